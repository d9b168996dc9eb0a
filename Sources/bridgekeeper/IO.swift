import Foundation

/// Small, explicit file and stream helpers for the CLI.
enum FileHandleWriter {
    static func write(_ string: String, to descriptor: Int32) {
        let bytes = Array(string.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            offset += written
        }
    }
}

enum InputFiles {
    /// Reads a file the operator named; a failure is a one-line CLI error.
    static func read(_ path: String, what: String, maxBytes: Int = 1 << 20) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CLIFailure("unreadable_file", "cannot read \(what) file \(path)")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxBytes + 1)) ?? Data()
        guard data.count <= maxBytes else { throw CLIFailure("file_too_large", "\(what) file \(path) exceeds \(maxBytes) bytes") }
        return [UInt8](data)
    }

    /// A token argument, or standard input when it is "-". Surrounding whitespace is trimmed.
    static func token(_ argument: String) throws -> String {
        var text = argument
        if argument == "-" {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            text = String(decoding: data.prefix(1 << 20), as: UTF8.self)
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes a new file with the given permissions; refuses to overwrite.
    static func create(_ path: String, contents: String, mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard descriptor >= 0 else {
            throw CLIFailure("unwritable_file", errno == EEXIST ? "\(path) exists; refusing to overwrite it" : "cannot create \(path)")
        }
        FileHandleWriter.write(contents, to: descriptor)
        fchmod(descriptor, mode)
        close(descriptor)
    }
}
