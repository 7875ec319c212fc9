//! What `std` would otherwise provide inside the component: an allocator, a panic handler,
//! and the canonical ABI's `cabi_realloc` (wasi-libc exports it under `std`).

use alloc::alloc::{Layout, alloc, realloc};

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic is a bug; it traps, and the host replaces the instance.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Allocation entry point the canonical ABI calls to pass lists and strings in.
///
/// # Safety
/// Called by the component runtime with a pointer it got from this function (or null with
/// `old_len == 0`) and a valid power-of-two alignment.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    let pointer = unsafe {
        if old_len == 0 {
            if new_len == 0 {
                return align as *mut u8;
            }
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(old, Layout::from_size_align_unchecked(old_len, align), new_len)
        }
    };
    if pointer.is_null() {
        core::arch::wasm32::unreachable();
    }
    pointer
}

// `memcmp` and friends: without `std`, nothing links wasi-libc, which the target ships in
// its self-contained sysroot. Only the string/memory routines get pulled in: no WASI imports.
#[link(name = "c")]
unsafe extern "C" {}
