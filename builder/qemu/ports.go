package qemu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// DefaultPortLockDir is where builds record the host ports they forward
// to their guests: one lock file per port, flock(2)ed while the build
// holds the port. A crashed build's lock goes with its process.
var DefaultPortLockDir = filepath.Join(os.TempDir(), "bake-ports")

// portAllocator hands out host ports from a range so that two builds, in
// this process or another, never get the same one. A port is taken when
// its lock file is locked (held until Release) and it can be bound on
// 127.0.0.1 (the listener is kept until the caller hands the port to
// qemu, so another program cannot take it meanwhile).
type portAllocator struct {
	// Dir holds the lock files; DefaultPortLockDir when empty.
	Dir string
}

// heldPort is a port taken by a build.
type heldPort struct {
	Port int
	lock *os.File
	ln   net.Listener
}

// Unlisten closes the placeholder listener, just before qemu binds the
// port. The lock stays.
func (p *heldPort) Unlisten() {
	if p != nil && p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
}

// Release gives the port back. It is idempotent.
func (p *heldPort) Release() {
	if p == nil {
		return
	}
	p.Unlisten()
	if p.lock != nil {
		name := p.lock.Name()
		// Remove before unlocking: a build that opens the name afterwards
		// gets a new file, and one that opened it before sees the lock
		// released on a file no longer linked, which it checks for.
		os.Remove(name)
		p.lock.Close()
		p.lock = nil
	}
}

// Take returns a free port from lo..hi, starting at a random place in the
// range so that concurrent builds rarely contend, skipping the ports in
// avoid.
func (a portAllocator) Take(lo, hi int, avoid map[int]bool) (*heldPort, error) {
	dir := a.Dir
	if dir == "" {
		dir = DefaultPortLockDir
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("port lock directory: %w", err)
	}
	os.Chmod(dir, 0o1777|os.ModeSticky) // shared by every user's builds; best effort
	n := hi - lo + 1
	if n <= 0 {
		return nil, fmt.Errorf("empty port range %d..%d", lo, hi)
	}
	start := rand.IntN(n)
	var lastErr error
	for i := range n {
		port := lo + (start+i)%n
		if avoid[port] {
			continue
		}
		hp, err := a.try(dir, port)
		if err == nil {
			return hp, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errors.New("every port was tried")
	}
	return nil, fmt.Errorf("no free port in %d..%d: last: %w", lo, hi, lastErr)
}

// try takes port if no other build holds it and it can be bound.
func (a portAllocator) try(dir string, port int) (*heldPort, error) {
	name := filepath.Join(dir, strconv.Itoa(port)+".lock")
	for {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return nil, fmt.Errorf("port %d: %w", port, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			return nil, fmt.Errorf("port %d: held by another build", port)
		}
		// The holder may have removed the file between our open and our
		// lock; then the lock is on an unlinked file: start again.
		fi, err1 := f.Stat()
		ni, err2 := os.Stat(name)
		if err1 != nil || err2 != nil || !os.SameFile(fi, ni) {
			f.Close()
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			os.Remove(name)
			f.Close()
			return nil, fmt.Errorf("port %d: %w", port, err)
		}
		f.Truncate(0)
		fmt.Fprintf(f, "%d\n", os.Getpid())
		return &heldPort{Port: port, lock: f, ln: ln}, nil
	}
}
