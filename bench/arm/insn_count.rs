//! A TCG plugin for qemu-user that counts the guest instructions a
//! program executes, for bench/arm_counts.sh; not part of rill.
//!
//! Built for the host as a C-ABI shared library (`rustc --crate-type
//! cdylib`) and loaded with
//! `qemu-aarch64 -plugin ./libinsn_count.so,out=FILE prog ...`. At every
//! translation the plugin asks for a callback on each execution of the
//! block, with the block's instruction count as its data; the callback
//! adds it to one atomic counter (guest threads run on host threads at
//! once, so a plain add would lose counts). When the guest exits, the
//! total is written to FILE as one decimal line.
//!
//! Written against the plugin API of qemu 7.2 (`qemu-plugin.h`, API
//! version 1): the functions are exported by the qemu-user binary
//! itself, which is why nothing here is linked against qemu. A block left
//! early (a fault in its middle) is counted whole; in user mode blocks end
//! at system calls, so that error is small, and bench/arm_counts.sh takes
//! differences between two runs, which cancel it further.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The plugin API version this file was written against (qemu 7.2).
#[no_mangle]
pub static qemu_plugin_version: c_int = 1;

/// `struct qemu_plugin_tb`: opaque, only passed back to qemu.
#[repr(C)]
pub struct QemuPluginTb {
    _opaque: [u8; 0],
}

type TbTransCb = extern "C" fn(id: u64, tb: *mut QemuPluginTb);
type VcpuUdataCb = extern "C" fn(vcpu_index: c_uint, userdata: *mut c_void);
type UdataCb = extern "C" fn(id: u64, userdata: *mut c_void);

/// `QEMU_PLUGIN_CB_NO_REGS`: the callback reads no guest registers.
const CB_NO_REGS: c_int = 0;

extern "C" {
    fn qemu_plugin_register_vcpu_tb_trans_cb(id: u64, cb: TbTransCb);
    fn qemu_plugin_register_vcpu_tb_exec_cb(
        tb: *mut QemuPluginTb,
        cb: VcpuUdataCb,
        flags: c_int,
        userdata: *mut c_void,
    );
    fn qemu_plugin_tb_n_insns(tb: *const QemuPluginTb) -> usize;
    fn qemu_plugin_register_atexit_cb(id: u64, cb: UdataCb, userdata: *mut c_void);
}

static EXECUTED: AtomicU64 = AtomicU64::new(0);
static OUT: OnceLock<String> = OnceLock::new();

extern "C" fn on_exec(_vcpu: c_uint, n_insns: *mut c_void) {
    EXECUTED.fetch_add(n_insns as u64, Ordering::Relaxed);
}

extern "C" fn on_translate(_id: u64, tb: *mut QemuPluginTb) {
    // SAFETY: `tb` is the block qemu is translating, valid for this call.
    unsafe {
        let n = qemu_plugin_tb_n_insns(tb);
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, CB_NO_REGS, n as *mut c_void);
    }
}

extern "C" fn on_exit(_id: u64, _userdata: *mut c_void) {
    let total = EXECUTED.load(Ordering::Relaxed);
    let line = format!("{total}\n");
    match OUT.get() {
        Some(path) => {
            if let Err(e) = std::fs::write(path, line) {
                eprintln!("insn_count: cannot write the count to {path}: {e}");
            }
        }
        None => eprint!("insn_count: {line}"),
    }
}

/// Called by qemu once, with the `key=value` arguments after the path.
///
/// # Safety
/// qemu passes `argc` valid C strings in `argv`.
#[no_mangle]
pub unsafe extern "C" fn qemu_plugin_install(
    id: u64,
    _info: *const c_void,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    for k in 0..usize::try_from(argc).unwrap_or(0) {
        let arg = CStr::from_ptr(*argv.add(k)).to_string_lossy();
        match arg.strip_prefix("out=") {
            Some(path) => {
                let _ = OUT.set(path.to_string());
            }
            None => {
                eprintln!("insn_count: unknown argument {arg:?} (only out=FILE)");
                return -1;
            }
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit, std::ptr::null_mut());
    0
}
