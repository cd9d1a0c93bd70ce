package artifacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests re-execute their own binary as a helper process that writes
// with WriteFileAtomic and is SIGKILLed; these variables select the helper.
const (
	helperEnv     = "BAKE_ARTIFACTS_TEST_HELPER"
	helperPathEnv = "BAKE_ARTIFACTS_TEST_PATH"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "crash-before-rename":
		// Kill ourselves after the temporary file is complete and synced,
		// before the rename: the worst moment.
		testHookBeforeRename = func(string) { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
		err := WriteFileAtomic(os.Getenv(helperPathEnv), selfCheckingData(1, 64<<20), 0o644)
		fmt.Fprintln(os.Stderr, "helper survived:", err)
		os.Exit(3)
	case "write-forever":
		fmt.Println("ready")
		for gen := uint64(2); ; gen++ {
			if err := WriteFileAtomic(os.Getenv(helperPathEnv), selfCheckingData(gen, 32<<20), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(3)
	}
}

// selfCheckingData returns size bytes: an 8-byte generation, the 8-byte
// length, filler, and the sha256 of everything before it at the end, so a
// reader can tell a complete file from a partial one.
func selfCheckingData(gen uint64, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b[0:], gen)
	binary.BigEndian.PutUint64(b[8:], uint64(size))
	for i := 16; i < size-32; i++ {
		b[i] = byte(gen + uint64(i)*7)
	}
	sum := sha256.Sum256(b[:size-32])
	copy(b[size-32:], sum[:])
	return b
}

// checkComplete returns the generation of a complete file, or an error.
func checkComplete(b []byte) (uint64, error) {
	if len(b) < 48 {
		return 0, fmt.Errorf("file is %d bytes", len(b))
	}
	if n := binary.BigEndian.Uint64(b[8:]); n != uint64(len(b)) {
		return 0, fmt.Errorf("file is %d bytes, header says %d: partial write", len(b), n)
	}
	sum := sha256.Sum256(b[:len(b)-32])
	if !bytes.Equal(sum[:], b[len(b)-32:]) {
		return 0, fmt.Errorf("checksum mismatch: mixed or partial content")
	}
	return binary.BigEndian.Uint64(b), nil
}

func helperCmd(t *testing.T, mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperPathEnv+"="+path)
	return cmd
}

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	if err := WriteFileAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(got) != "two" || fi.Mode().Perm() != 0o600 {
		t.Errorf("got %q mode %v", got, fi.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(path, "no", "dir"), nil, 0o644); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// TestWriteFileAtomicCrashBeforeRename: a process killed between writing
// the temporary file and renaming it leaves the old file intact.
func TestWriteFileAtomicCrashBeforeRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bake-manifest.sigstore.json")
	old := selfCheckingData(0, 4096)
	os.WriteFile(path, old, 0o644)

	out, err := helperCmd(t, "crash-before-rename", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper was not killed: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, old) {
		t.Fatalf("file at the path changed by a killed write (%d bytes)", len(got))
	}
}

// TestWriteFileAtomicSIGKILL kills a process that rewrites a 32 MiB file
// in a loop at many moments; whatever the moment, the path holds a
// complete file.
func TestWriteFileAtomicSIGKILL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bake-manifest.sigstore.json")
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	seen := map[uint64]bool{}
	for i := range rounds {
		cmd := helperCmd(t, "write-forever", path)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		stdout.Read(buf)
		// Kill at varied moments within and across writes.
		time.Sleep(time.Duration(20+i*37) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		got, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue // killed before the first rename: no file is fine
		}
		if err != nil {
			t.Fatal(err)
		}
		gen, err := checkComplete(got)
		if err != nil {
			t.Fatalf("round %d: partial file at the path: %v", i, err)
		}
		seen[gen] = true
	}
	t.Logf("%d rounds, %d complete generations seen at the path", rounds, len(seen))
	// Leftover temporaries are hidden and never the path itself.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != filepath.Base(path) && !strings.HasPrefix(e.Name(), "."+filepath.Base(path)+".tmp-") {
			t.Errorf("unexpected file %s", e.Name())
		}
	}
}

// TestLockFile: goroutines doing read-modify-write under LockFile lose no
// increment.
func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counter")
	os.WriteFile(path, []byte("0"), 0o644)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				unlock, err := LockFile(path)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := os.ReadFile(path)
				n, _ := strconv.Atoi(string(b))
				WriteFileAtomic(path, []byte(strconv.Itoa(n+1)), 0o644)
				unlock()
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(path)
	if string(b) != "200" {
		t.Errorf("counter = %s, want 200", b)
	}
}
