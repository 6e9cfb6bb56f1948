//! The writable data segments (`.data`, `.bss`) of every loaded object and the size of
//! the static TLS block, from `dl_iterate_phdr`. Allocates and takes the loader lock:
//! called before threads are stopped. See `roots/mod.rs` for the overview.

use core::ffi::c_void;
use core::ops::Range;

/// Room glibc reserves in the static TLS block beyond the modules' own TLS segments
/// (`TLS_STATIC_SURPLUS` and the optional static TLS of `dlopen`ed objects); an upper
/// bound, since the range is clamped to mapped memory.
const STATIC_TLS_SURPLUS: usize = 4096;

/// What `dl_iterate_phdr` reported.
#[derive(Debug, Default)]
pub(crate) struct Image {
    /// Writable `PT_LOAD` ranges of every object, RELRO parts and excluded ranges
    /// removed, in no particular order.
    pub(crate) segments: Vec<Range<usize>>,
    /// An upper bound on the static TLS block below each thread's thread pointer: the
    /// sum of the `PT_TLS` segments (each rounded to its alignment) plus glibc's surplus.
    pub(crate) static_tls: usize,
}

/// Per-object scratch filled by the callback.
struct Walk<'a> {
    image: &'a mut Image,
    page: usize,
}

impl Image {
    /// Walks the loaded objects and fills `self` (cleared first), leaving out the parts
    /// of segments that overlap `exclude` (the collector's own heap, for example).
    pub(crate) fn collect(&mut self, exclude: &[Range<usize>]) {
        self.segments.clear();
        self.static_tls = STATIC_TLS_SURPLUS;
        let mut walk = Walk {
            image: self,
            page: page_size(),
        };
        // SAFETY: the callback matches dl_iterate_phdr's signature and `data` points to
        // `walk`, which outlives the call; the callback does not unwind (it only pushes
        // to a Vec, which aborts on allocation failure).
        unsafe { libc::dl_iterate_phdr(Some(on_object), (&raw mut walk).cast()) };
        for ex in exclude {
            subtract(&mut self.segments, ex);
        }
        self.segments.retain(|r| r.start < r.end);
    }
}

/// `dl_iterate_phdr`'s callback: records the writable loads of one object.
unsafe extern "C" fn on_object(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> libc::c_int {
    // SAFETY: dl_iterate_phdr passes a valid `info` for the duration of the call, and
    // `data` is the `Walk` passed by `Image::collect`, borrowed by nobody else meanwhile.
    let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk<'_>>()) };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers of a loaded object.
    let phdrs =
        unsafe { core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let base = info.dlpi_addr as usize;
    let first = walk.image.segments.len();
    let mut relro = None;
    for ph in phdrs {
        let start = base.wrapping_add(ph.p_vaddr as usize);
        let len = ph.p_memsz as usize;
        match ph.p_type {
            libc::PT_LOAD if ph.p_flags & libc::PF_W != 0 && len > 0 => {
                walk.image.segments.push(start..start + len);
            }
            libc::PT_GNU_RELRO => {
                // glibc's _dl_protect_relro makes the pages from the start page to the
                // page holding the end read-only, both rounded down.
                let lo = start & !(walk.page - 1);
                let hi = (start + len) & !(walk.page - 1);
                relro = Some(lo..hi);
            }
            libc::PT_TLS => {
                let align = (ph.p_align as usize).max(1);
                walk.image.static_tls += len.div_ceil(align) * align;
            }
            _ => {}
        }
    }
    if let Some(relro) = relro {
        let mut mine = walk.image.segments.split_off(first);
        subtract(&mut mine, &relro);
        walk.image.segments.append(&mut mine);
    }
    0
}

/// Removes `cut` from every range of `ranges` (a range may split in two).
fn subtract(ranges: &mut Vec<Range<usize>>, cut: &Range<usize>) {
    if cut.start >= cut.end {
        return;
    }
    let mut i = 0;
    while i < ranges.len() {
        let r = ranges[i].clone();
        if r.end <= cut.start || cut.end <= r.start {
            i += 1;
            continue;
        }
        let left = r.start..cut.start.max(r.start);
        let right = cut.end.min(r.end)..r.end;
        ranges.swap_remove(i);
        for part in [left, right] {
            if part.start < part.end {
                ranges.push(part);
            }
        }
    }
}

/// The OS page size.
fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    static mut IN_BSS: [usize; 4] = [0; 4];
    static IN_DATA: crate::sync::static_atomic::AtomicUsize =
        crate::sync::static_atomic::AtomicUsize::new(0x5eed);

    #[test]
    fn finds_this_binarys_data_and_bss() {
        let mut image = Image::default();
        image.collect(&[]);
        let bss = (&raw const IN_BSS) as usize;
        let data = &raw const IN_DATA as usize;
        assert!(
            image.segments.iter().any(|r| r.contains(&bss)),
            "{image:x?}"
        );
        assert!(image.segments.iter().any(|r| r.contains(&data)));
        assert!(image.static_tls >= STATIC_TLS_SURPLUS);
        image.collect(core::slice::from_ref(&(bss..bss + 8)));
        assert!(!image.segments.iter().any(|r| r.contains(&bss)));
        assert!(image.segments.iter().any(|r| r.contains(&(bss + 8))));
    }

    #[test]
    fn subtract_splits_and_trims() {
        let mut v = vec![0..100, 200..300];
        subtract(&mut v, &(50..250));
        v.sort_by_key(|r| r.start);
        assert_eq!(v, vec![0..50, 250..300]);
        let mut v = Vec::new();
        v.push(10..20);
        subtract(&mut v, &(12..14));
        v.sort_by_key(|r| r.start);
        assert_eq!(v, vec![10..12, 14..20]);
        subtract(&mut v, &(0..100));
        assert!(v.is_empty());
    }
}
