//! `ddstream_error`: an error handed to C, and the guard every entry point runs in (null and
//! UTF-8 checks on arguments, panics caught and turned into errors).

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use ddstream::embed::EmbedError;

/// An error: a kind code, an HTTP status (0 when none) and a one-line message. Free it with
/// `ddstream_error_free`.
pub struct ddstream_error {
    code: i32,
    status: u16,
    message: CString,
    api_message: Option<CString>,
}

impl ddstream_error {
    fn new(e: &EmbedError) -> Self {
        // EmbedError messages never hold NUL bytes; `unwrap_or_default` is only a backstop.
        let c = |s: &str| CString::new(s.replace('\0', " ")).unwrap_or_default();
        ddstream_error {
            code: e.kind().code(),
            status: e.status().unwrap_or(0),
            message: c(e.message()),
            api_message: e.api_message().map(c),
        }
    }
}

/// Stores `error` in `*err` when `err` is not NULL.
pub(crate) fn report(err: *mut *mut ddstream_error, error: &EmbedError) {
    if !err.is_null() {
        // SAFETY: the caller passed a writable `ddstream_error **` (or NULL, checked above).
        unsafe { *err = Box::into_raw(Box::new(ddstream_error::new(error))) };
    }
}

/// Runs `body` with panics caught: its value on success, else `fallback` with `*err` set.
pub(crate) fn guard<T>(
    err: *mut *mut ddstream_error,
    fallback: T,
    body: impl FnOnce() -> Result<T, EmbedError>,
) -> T {
    if !err.is_null() {
        // SAFETY: as in `report`.
        unsafe { *err = ptr::null_mut() };
    }
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => {
            report(err, &e);
            fallback
        }
        Err(panic) => {
            report(err, &EmbedError::panicked(panic.as_ref()));
            fallback
        }
    }
}

/// Runs `body` with panics caught: 0 on success, else the error's code with `*err` set.
pub(crate) fn guard_code(
    err: *mut *mut ddstream_error,
    body: impl FnOnce() -> Result<(), EmbedError>,
) -> i32 {
    if !err.is_null() {
        // SAFETY: as in `report`.
        unsafe { *err = ptr::null_mut() };
    }
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return 0,
        Ok(Err(e)) => e,
        Err(panic) => EmbedError::panicked(panic.as_ref()),
    };
    report(err, &error);
    error.kind().code()
}

/// Runs `body` with panics caught, for functions without an error out-parameter.
pub(crate) fn quiet<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// The UTF-8 text at `p`; `what` names the argument in the error.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the call.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, EmbedError> {
    if p.is_null() {
        return Err(EmbedError::config(format!(
            "{what} is NULL; pass a NUL-terminated UTF-8 string"
        )));
    }
    // SAFETY: non-NULL and NUL-terminated per the contract above.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map_err(|e| {
        EmbedError::config(format!(
            "{what} is not valid UTF-8 (bad byte at offset {}); pass UTF-8 text",
            e.valid_up_to()
        ))
    })
}

/// Like [`text`], with NULL meaning `default`.
///
/// # Safety
/// As for [`text`].
pub(crate) unsafe fn text_or<'a>(
    p: *const c_char,
    what: &str,
    default: &'a str,
) -> Result<&'a str, EmbedError> {
    if p.is_null() {
        Ok(default)
    } else {
        // SAFETY: forwarded contract.
        unsafe { text(p, what) }
    }
}

/// The error's message: one line, never a key. Owned by the error (valid until
/// `ddstream_error_free`). NULL when `err` is NULL.
///
/// # Safety
/// `err` is NULL or an error this library returned that has not been freed.
#[no_mangle]
pub unsafe extern "C" fn ddstream_error_message(err: *const ddstream_error) -> *const c_char {
    // SAFETY: `err` is NULL or an error this library returned and the caller has not freed.
    match unsafe { err.as_ref() } {
        Some(e) => e.message.as_ptr(),
        None => ptr::null(),
    }
}

/// The error's kind: one of the `DDSTREAM_ERR_*` codes (never 0); 0 when `err` is NULL.
///
/// # Safety
/// `err` is NULL or an error this library returned that has not been freed.
#[no_mangle]
pub unsafe extern "C" fn ddstream_error_code(err: *const ddstream_error) -> i32 {
    // SAFETY: as in `ddstream_error_message`.
    unsafe { err.as_ref() }.map_or(0, |e| e.code)
}

/// The HTTP status of an API error (`DDSTREAM_ERR_API`, `DDSTREAM_ERR_RATE_LIMITED`); 0 when
/// there is none or `err` is NULL.
///
/// # Safety
/// `err` is NULL or an error this library returned that has not been freed.
#[no_mangle]
pub unsafe extern "C" fn ddstream_error_status(err: *const ddstream_error) -> u16 {
    // SAFETY: as in `ddstream_error_message`.
    unsafe { err.as_ref() }.map_or(0, |e| e.status)
}

/// The API's own error message for API errors, owned by the error; NULL when there is none or
/// `err` is NULL.
///
/// # Safety
/// `err` is NULL or an error this library returned that has not been freed.
#[no_mangle]
pub unsafe extern "C" fn ddstream_error_api_message(err: *const ddstream_error) -> *const c_char {
    // SAFETY: as in `ddstream_error_message`.
    unsafe { err.as_ref() }
        .and_then(|e| e.api_message.as_ref())
        .map_or(ptr::null(), |m| m.as_ptr())
}

/// Frees an error. NULL is ignored.
///
/// # Safety
/// `err` is NULL or an error this library returned that has not been freed.
#[no_mangle]
pub unsafe extern "C" fn ddstream_error_free(err: *mut ddstream_error) {
    if !err.is_null() {
        // SAFETY: `err` came from `Box::into_raw` in `report` and is freed once.
        quiet((), || drop(unsafe { Box::from_raw(err) }));
    }
}

/// A configuration value or an argument (NULL, not UTF-8) is invalid. These codes are
/// `ddstream::embed::ErrorKind`'s (a test checks them).
pub const DDSTREAM_ERR_CONFIG: i32 = 1;
/// Unknown adapter name.
pub const DDSTREAM_ERR_UNKNOWN_ADAPTER: i32 = 2;
/// The API refused a request (see `ddstream_error_status`).
pub const DDSTREAM_ERR_API: i32 = 3;
/// The API kept answering 429 until the retries were spent.
pub const DDSTREAM_ERR_RATE_LIMITED: i32 = 4;
/// A page or token cursor repeated.
pub const DDSTREAM_ERR_STUCK_CURSOR: i32 = 5;
/// The stream was cancelled.
pub const DDSTREAM_ERR_CANCELLED: i32 = 6;
/// A request got no response.
pub const DDSTREAM_ERR_NETWORK: i32 = 7;
/// The SQL could not be parsed, planned or run.
pub const DDSTREAM_ERR_SQL: i32 = 8;
/// A file or socket could not be opened.
pub const DDSTREAM_ERR_IO: i32 = 9;
/// A 2xx response whose body could not be understood.
pub const DDSTREAM_ERR_MALFORMED_RESPONSE: i32 = 10;
/// A bug in ddstream (or a panic caught at the boundary).
pub const DDSTREAM_ERR_INTERNAL: i32 = 11;
/// The API refused a window down to the smallest window allowed.
pub const DDSTREAM_ERR_WINDOW_TOO_SMALL: i32 = 12;

#[cfg(test)]
mod tests {
    use ddstream::embed::ErrorKind as K;

    #[test]
    fn the_header_codes_are_the_error_kinds() {
        let pairs = [
            (super::DDSTREAM_ERR_CONFIG, K::Config),
            (super::DDSTREAM_ERR_UNKNOWN_ADAPTER, K::UnknownAdapter),
            (super::DDSTREAM_ERR_API, K::Api),
            (super::DDSTREAM_ERR_RATE_LIMITED, K::RateLimited),
            (super::DDSTREAM_ERR_STUCK_CURSOR, K::StuckCursor),
            (super::DDSTREAM_ERR_CANCELLED, K::Cancelled),
            (super::DDSTREAM_ERR_NETWORK, K::Network),
            (super::DDSTREAM_ERR_SQL, K::Sql),
            (super::DDSTREAM_ERR_IO, K::Io),
            (super::DDSTREAM_ERR_MALFORMED_RESPONSE, K::MalformedResponse),
            (super::DDSTREAM_ERR_INTERNAL, K::Internal),
            (super::DDSTREAM_ERR_WINDOW_TOO_SMALL, K::WindowTooSmall),
        ];
        for (code, kind) in pairs {
            assert_eq!(code, kind.code(), "{kind:?}");
        }
    }
}
