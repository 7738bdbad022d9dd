//! errno values in words, for the messages that name a device or file error.

/// The C library's text for an errno value.
pub fn errno_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno.abs()).to_string()
}
