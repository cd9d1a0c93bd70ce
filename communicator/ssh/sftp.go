package ssh

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/bake-tool/bake/internal/destdir"
	"github.com/bake-tool/bake/internal/spool"
)

// modeBits are the permission bits a transfer keeps.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

func sftpUpload(ctx context.Context, cn *conn, dst string, src io.Reader, mode fs.FileMode) error {
	client, err := cn.sftpClient()
	if err != nil {
		return err
	}
	f, err := client.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	// Before the content goes in, so it is never readable more widely
	// than asked.
	if err := f.Chmod(mode & modeBits); err != nil {
		f.Close()
		return fmt.Errorf("chmod: %w", err)
	}
	if _, err := f.ReadFrom(newCtxReader(ctx, src)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sftpDownload(ctx context.Context, cn *conn, src string, dst io.Writer) error {
	client, err := cn.sftpClient()
	if err != nil {
		return err
	}
	f, err := client.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	_, err = f.WriteTo(ctxWriter{ctx, dst})
	return err
}

// dirTarget applies the rsync rule: with a trailing slash the contents of
// src go into dst, otherwise src itself becomes dst/base(src). It returns
// src without the slash and the directory that src's contents go into.
func dirTarget(src, dst string, join func(...string) string, base func(string) string) (cleanSrc, target string) {
	contents := strings.HasSuffix(src, "/")
	cleanSrc = strings.TrimRight(src, "/")
	if cleanSrc == "" {
		cleanSrc = "/"
	}
	if contents || cleanSrc == "/" {
		return cleanSrc, dst
	}
	return cleanSrc, join(dst, base(cleanSrc))
}

func sftpUploadDir(ctx context.Context, cn *conn, dst, src string) error {
	client, err := cn.sftpClient()
	if err != nil {
		return err
	}
	src, target := dirTarget(src, dst, path.Join, filepath.Base)
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	if err := client.MkdirAll(target); err != nil {
		return fmt.Errorf("create %s: %w", target, err)
	}
	// WalkDir does not follow a root that is a symbolic link.
	if real, err := filepath.EvalSymlinks(src); err == nil {
		src = real
	}
	// Directory modes are set last, deepest first, so that a read-only
	// directory is filled before it becomes read-only.
	type dirMode struct {
		path string
		mode fs.FileMode
	}
	var dirs []dirMode
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		remote := path.Join(target, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel != "." || target != dst {
				dirs = append(dirs, dirMode{remote, info.Mode() & modeBits})
			}
			if rel == "." {
				return nil
			}
			if err := client.Mkdir(remote); err != nil {
				if st, serr := client.Stat(remote); serr != nil || !st.IsDir() {
					return fmt.Errorf("create %s: %w", remote, err)
				}
			}
			// Writable by us until the walk is done.
			return client.Chmod(remote, 0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = client.Remove(remote)
			if err := client.Symlink(link, remote); err != nil {
				return fmt.Errorf("symlink %s: %w", remote, err)
			}
			return nil
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := sftpUpload(ctx, cn, remote, f, info.Mode()); err != nil {
				return fmt.Errorf("upload %s: %w", remote, err)
			}
			return nil
		default:
			return fmt.Errorf("%s: cannot copy a %s", p, d.Type())
		}
	})
	if err != nil {
		return err
	}
	for _, d := range slices.Backward(dirs) {
		if err := client.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("chmod %s: %w", d.path, err)
		}
	}
	return nil
}

// sftpDownloadDir copies the machine's directory src into dst. The
// machine controls the names and links it sends, so everything is written
// through a destdir.Dir: a link, the machine's or one an earlier download
// left, is never followed out of dst, and setuid and setgid bits are
// dropped.
func sftpDownloadDir(ctx context.Context, cn *conn, src, dst string) error {
	client, err := cn.sftpClient()
	if err != nil {
		return err
	}
	// top is where src's contents go, relative to dst ("" for dst).
	src, top := dirTarget(src, "", path.Join, path.Base)
	fi, err := client.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	d, err := destdir.Open(dst)
	if err != nil {
		return err
	}
	defer d.Close()
	w := client.Walk(src)
	for w.Step() {
		if err := w.Err(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(w.Path(), src), "/")
		if rel != "" && !filepath.IsLocal(filepath.FromSlash(rel)) {
			return fmt.Errorf("refusing path %q outside %s", w.Path(), src)
		}
		name := path.Join(top, rel)
		mode := w.Stat().Mode()
		switch {
		case mode.IsDir():
			if err := d.Mkdir(name, mode, time.Time{}); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			link, err := client.ReadLink(w.Path())
			if err != nil {
				return err
			}
			if err := d.Symlink(name, link); err != nil {
				return err
			}
		case mode.IsRegular():
			if err := sftpDownloadTo(ctx, client, w.Path(), d, name, mode); err != nil {
				return fmt.Errorf("download %s: %w", w.Path(), err)
			}
		default:
			return fmt.Errorf("%s: cannot copy a %s", w.Path(), mode.Type())
		}
	}
	return d.Finish()
}

// sftpDownloadTo copies the machine's regular file src to name in d.
func sftpDownloadTo(ctx context.Context, client *sftp.Client, src string, d *destdir.Dir, name string, mode fs.FileMode) error {
	f, err := client.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return d.WriteFile(name, mode, time.Time{}, sftpReader{ctx, f})
}

// sftpReader hands an SFTP file to io.Copy through its WriteTo, which
// reads with many requests in flight, and stops when ctx is done.
type sftpReader struct {
	ctx context.Context
	f   *sftp.File
}

func (r sftpReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.f.Read(p)
}

func (r sftpReader) WriteTo(w io.Writer) (int64, error) {
	return r.f.WriteTo(ctxWriter{r.ctx, w})
}

// ctxReader stops a copy when ctx is done. Its Size tells pkg/sftp how much
// to expect (-1, unknown, asks for full concurrency).
type ctxReader struct {
	ctx  context.Context
	r    io.Reader
	size int64
}

func newCtxReader(ctx context.Context, r io.Reader) *ctxReader {
	return &ctxReader{ctx: ctx, r: r, size: spool.KnownSize(r)}
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *ctxReader) Size() int64 { return r.size }

// ctxWriter stops a copy when ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}
