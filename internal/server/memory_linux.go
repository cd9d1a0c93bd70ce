package server

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseStartupPages drops this process's mappings of the pages of its
// own executable that it only reads: code, read-only data, the runtime's
// tables. The bake binary holds every builder, the cloud SDKs, the
// template language and the policy engine, and the start of any Go
// program runs the initialisation of all of them: the kernel maps those
// pages into the process, with their neighbours around each fault, and
// they stay resident (about 30 MB of the binary) although an idle server
// never runs that code again. After the call the server maps back, from
// the page cache, only what it runs. The pages stay in the page cache for
// other processes (the builds the server starts run the same binary).
// The writable segment, whose pages may differ from the file, is never
// touched. It returns the size of the ranges released.
func ReleaseStartupPages() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	var total int64
	for _, r := range readOnlyRanges(string(maps), exe) {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_DONTNEED); errno != 0 {
			return total, fmt.Errorf("release pages %x-%x of %s: %w", r.start, r.end, exe, errno)
		}
		total += int64(r.end - r.start)
	}
	return total, nil
}

// addrRange is a range of addresses, end excluded.
type addrRange struct{ start, end uintptr }

// readOnlyRanges returns the private, non-writable mappings of the file
// path in maps, the text of /proc/PID/maps: one mapping a line,
// "START-END PERMS OFFSET DEV INODE PATH", PATH followed by " (deleted)"
// once the file was replaced. Lines it cannot read are skipped.
func readOnlyRanges(maps, path string) []addrRange {
	path = strings.TrimSuffix(path, " (deleted)")
	var out []addrRange
	for line := range strings.Lines(maps) {
		f := strings.Fields(line)
		if len(f) < 6 || strings.TrimSuffix(strings.Join(f[5:], " "), " (deleted)") != path {
			continue
		}
		if perms := f[1]; len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
			continue // writable, shared or unreadable: not ours to drop
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		var r addrRange
		if _, err := fmt.Sscanf(lo+" "+hi, "%x %x", &r.start, &r.end); err != nil || r.end <= r.start {
			continue
		}
		out = append(out, r)
	}
	return out
}
