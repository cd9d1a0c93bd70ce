package ssh_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/internal/testutil/sshd"
)

// The server runs on this machine, so a test checks the remote side of a
// transfer by looking at the local file system.

// transferCases are the combinations every transfer test runs under.
var transferCases = []struct {
	method, user string
}{
	{ssh.TransferSFTP, "root"},
	{ssh.TransferSCP, "root"},
	{ssh.TransferSFTP, sshd.TestUser},
	{ssh.TransferSCP, sshd.TestUser},
}

func transferComm(t *testing.T, srv *sshd.Server, method, user string) *ssh.Comm {
	cfg := rootConfig(srv)
	cfg.FileTransfer = method
	if user != "root" {
		cfg.User, cfg.PrivateKey, cfg.Password = user, nil, sshd.TestPassword
	}
	return connect(t, cfg)
}

func TestUploadDownloadFile(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	for _, tc := range transferCases {
		t.Run(tc.method+"/"+tc.user, func(t *testing.T) {
			c := transferComm(t, srv, tc.method, tc.user)
			remote := sshd.UserDir(t, tc.user)
			ctx := t.Context()

			t.Run("upload with mode", func(t *testing.T) {
				dst := filepath.Join(remote, "script.sh")
				if err := c.Upload(ctx, dst, strings.NewReader("#!/bin/sh\necho hi\n"), 0o750); err != nil {
					t.Fatal(err)
				}
				checkFile(t, dst, "#!/bin/sh\necho hi\n", 0o750)
				out, _, status := run(t, c, dst)
				if out != "hi\n" || status != 0 {
					t.Errorf("uploaded script printed %q, status %d", out, status)
				}
			})
			t.Run("default mode and overwrite", func(t *testing.T) {
				dst := filepath.Join(remote, "over")
				if err := c.Upload(ctx, dst, strings.NewReader(strings.Repeat("long content\n", 100)), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := c.Upload(ctx, dst, strings.NewReader("short\n"), 0); err != nil {
					t.Fatal(err)
				}
				checkFile(t, dst, "short\n", 0o644)
			})
			t.Run("reader of unknown length", func(t *testing.T) {
				dst := filepath.Join(remote, "piped")
				pr, pw := io.Pipe()
				go func() {
					for i := range 1000 {
						fmt.Fprintf(pw, "line %d\n", i)
					}
					pw.Close()
				}()
				if err := c.Upload(ctx, dst, pr, 0o640); err != nil {
					t.Fatal(err)
				}
				var want strings.Builder
				for i := range 1000 {
					fmt.Fprintf(&want, "line %d\n", i)
				}
				checkFile(t, dst, want.String(), 0o640)
			})
			t.Run("empty file", func(t *testing.T) {
				dst := filepath.Join(remote, "empty")
				if err := c.Upload(ctx, dst, strings.NewReader(""), 0o644); err != nil {
					t.Fatal(err)
				}
				checkFile(t, dst, "", 0o644)
			})
			t.Run("download", func(t *testing.T) {
				src := filepath.Join(remote, "down.txt")
				writeFile(t, src, "from the machine\n", 0o644)
				var buf bytes.Buffer
				if err := c.Download(ctx, src, &buf); err != nil {
					t.Fatal(err)
				}
				if buf.String() != "from the machine\n" {
					t.Errorf("downloaded %q", buf.String())
				}
			})
			t.Run("download missing", func(t *testing.T) {
				src := filepath.Join(remote, "missing")
				err := c.Download(ctx, src, io.Discard)
				if err == nil || !strings.Contains(err.Error(), "download "+src) {
					t.Errorf("error %v", err)
				}
				t.Logf("error: %v", err)
			})
			t.Run("download a directory", func(t *testing.T) {
				err := c.Download(ctx, remote, io.Discard)
				if err == nil {
					t.Error("downloaded a directory as a file")
				}
				t.Logf("error: %v", err)
			})
			t.Run("upload into a missing directory", func(t *testing.T) {
				err := c.Upload(ctx, filepath.Join(remote, "no/such/dir/f"), strings.NewReader("x"), 0)
				if err == nil {
					t.Error("no error")
				}
				t.Logf("error: %v", err)
			})
		})
	}
}

func TestUploadDownloadDir(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	for _, tc := range transferCases {
		t.Run(tc.method+"/"+tc.user, func(t *testing.T) {
			c := transferComm(t, srv, tc.method, tc.user)
			ctx := t.Context()
			src := filepath.Join(t.TempDir(), "tree")
			makeTree(t, src)
			want := snapshot(t, src, tc.method == ssh.TransferSCP)

			t.Run("upload dir itself", func(t *testing.T) {
				remote := sshd.UserDir(t, tc.user)
				dst := filepath.Join(remote, "new", "place")
				if err := c.UploadDir(ctx, dst, src); err != nil {
					t.Fatal(err)
				}
				compare(t, want, snapshot(t, filepath.Join(dst, "tree"), false))
			})
			t.Run("upload dir contents", func(t *testing.T) {
				remote := sshd.UserDir(t, tc.user)
				if err := c.UploadDir(ctx, remote, src+"/"); err != nil {
					t.Fatal(err)
				}
				compare(t, want, snapshot(t, remote, false))
			})
			t.Run("upload over an existing tree", func(t *testing.T) {
				remote := sshd.UserDir(t, tc.user)
				if err := c.UploadDir(ctx, remote, src); err != nil {
					t.Fatal(err)
				}
				err := c.UploadDir(ctx, remote, src)
				if tc.user != "root" {
					// As with cp and scp, a read-only file in the way
					// (ro/kept, mode 444) stops anyone but root.
					if err == nil || !strings.Contains(strings.ToLower(err.Error()), "permission denied") {
						t.Fatalf("error %v, want permission denied", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				compare(t, want, snapshot(t, filepath.Join(remote, "tree"), false))
			})

			// The machine's tree, for downloads.
			remote := sshd.UserDir(t, tc.user)
			remoteTree := filepath.Join(remote, "tree")
			if err := c.UploadDir(ctx, remote, src); err != nil {
				t.Fatal(err)
			}
			wantDown := snapshot(t, remoteTree, tc.method == ssh.TransferSCP)

			t.Run("download dir itself", func(t *testing.T) {
				dst := filepath.Join(t.TempDir(), "a", "b")
				if err := c.DownloadDir(ctx, remoteTree, dst); err != nil {
					t.Fatal(err)
				}
				compare(t, wantDown, snapshot(t, filepath.Join(dst, "tree"), false))
			})
			t.Run("download dir contents", func(t *testing.T) {
				dst := t.TempDir()
				if err := c.DownloadDir(ctx, remoteTree+"/", dst); err != nil {
					t.Fatal(err)
				}
				compare(t, wantDown, snapshot(t, dst, false))
			})
			t.Run("download a file as a directory", func(t *testing.T) {
				err := c.DownloadDir(ctx, filepath.Join(remoteTree, "a.txt"), t.TempDir())
				if err == nil {
					t.Error("no error")
				}
				t.Logf("error: %v", err)
			})
			t.Run("upload a missing directory", func(t *testing.T) {
				err := c.UploadDir(ctx, remote, filepath.Join(src, "nothing"))
				if err == nil {
					t.Error("no error")
				}
			})
		})
	}
}

// makeTree writes a small tree with several modes, an empty directory, a
// read-only directory and a symbolic link.
func makeTree(t *testing.T, dir string) {
	t.Helper()
	for _, p := range []string{"sub/deeper", "empty", "ro"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "a.txt"), "alpha\n", 0o644)
	writeFile(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(dir, "secret"), "s3cret\n", 0o600)
	writeFile(t, filepath.Join(dir, "name with spaces 'quoted'"), "odd\n", 0o644)
	writeFile(t, filepath.Join(dir, "sub", "b.txt"), "beta\n", 0o640)
	writeFile(t, filepath.Join(dir, "ro", "kept"), "kept\n", 0o444)
	big := make([]byte, 300_000)
	rand.NewChaCha8([32]byte{1}).Read(big)
	writeFile(t, filepath.Join(dir, "sub", "deeper", "c.bin"), string(big), 0o644)
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]fs.FileMode{"sub": 0o750, "empty": 0o700, "ro": 0o555, "sub/deeper": 0o755} {
		if err := os.Chmod(filepath.Join(dir, p), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot describes every entry under dir by its path: type, permission
// bits and content digest or link target. With followLinks a link is
// described as what it points to, as SCP copies it.
func snapshot(t *testing.T, dir string, followLinks bool) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if !followLinks {
				target, _ := os.Readlink(p)
				got[rel] = "link " + target
				return nil
			}
			if fi, err = os.Stat(p); err != nil {
				return err
			}
		}
		switch {
		case fi.IsDir():
			got[rel] = fmt.Sprintf("dir %o", fi.Mode().Perm())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			got[rel] = fmt.Sprintf("file %o %x", fi.Mode().Perm(), sum[:6])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func compare(t *testing.T, want, got map[string]string) {
	t.Helper()
	if reflect.DeepEqual(want, got) {
		return
	}
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: missing (want %s)", k, w)
		} else if g != w {
			t.Errorf("%s: got %s, want %s", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s", k, g)
		}
	}
}

func writeFile(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func checkFile(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Errorf("%s holds %q, want %q", p, b, content)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s has mode %o, want %o", p, fi.Mode().Perm(), mode)
	}
}

// TestLargeFile sends 200 MB of seeded pseudo-random bytes, generated as
// they are sent, to the machine and back, and compares SHA-256 digests of
// what was sent, what landed and what came back.
func TestLargeFile(t *testing.T) {
	size := int64(200 << 20)
	if testing.Short() {
		size = 20 << 20
	}
	srv := sshd.Start(t, sshd.Options{})
	for _, method := range []string{ssh.TransferSFTP, ssh.TransferSCP} {
		t.Run(method, func(t *testing.T) {
			cfg := rootConfig(srv)
			cfg.FileTransfer = method
			c := connect(t, cfg)
			dst := filepath.Join(sshd.UserDir(t, "root"), "large.bin")

			sent := sha256.New()
			src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{42}), size), sent)
			start := time.Now()
			if err := c.Upload(t.Context(), dst, src, 0o600); err != nil {
				t.Fatal(err)
			}
			up := time.Since(start)

			landed := fileDigest(t, dst)
			back := sha256.New()
			start = time.Now()
			if err := c.Download(t.Context(), dst, back); err != nil {
				t.Fatal(err)
			}
			down := time.Since(start)
			sentSum, backSum := hex.EncodeToString(sent.Sum(nil)), hex.EncodeToString(back.Sum(nil))
			if sentSum != landed || backSum != sentSum {
				t.Errorf("sha256 sent %s, on the machine %s, downloaded %s", sentSum, landed, backSum)
			}
			mb := float64(size) / (1 << 20)
			t.Logf("%s: %.0f MB up in %s (%.0f MB/s), down in %s (%.0f MB/s)",
				method, mb, up.Round(time.Millisecond), mb/up.Seconds(), down.Round(time.Millisecond), mb/down.Seconds())
		})
	}
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
