//! The worker keeps no key or password in its environment once its signer is loaded.

/// The environment variables that may hold the worker's key or its wallet's password.
pub const SECRET_ENV: [&str; 2] = ["POCO_PRIVATE_KEY", "POCO_WALLET_PASSWORD"];

/// Erases [`SECRET_ENV`] from this process's environment: the value's bytes are overwritten
/// where the C library keeps them, then the variable is unset.
///
/// Removing the variable alone is not enough: `/proc/<pid>/environ` shows the environment
/// block the process started with, which still holds the value until it is overwritten. Call
/// this once the signer is loaded and before anything else reads the environment
/// concurrently (the worker's runners, started afterwards, also get none of it).
pub fn forget_secret_env() {
    for name in SECRET_ENV {
        let Ok(c_name) = std::ffi::CString::new(name) else {
            continue;
        };
        // SAFETY: `getenv` returns null or a pointer to the NUL-terminated value inside the
        // process's environment, which stays valid until the variable is changed; the value
        // is overwritten within its own length, before `remove_var` unsets it. Nothing else
        // changes the environment meanwhile (start-up, before the worker's tasks run).
        unsafe {
            let value = libc::getenv(c_name.as_ptr());
            if !value.is_null() {
                let len = libc::strlen(value);
                std::ptr::write_bytes(value, b'0', len);
            }
        }
        std::env::remove_var(name);
    }
}
