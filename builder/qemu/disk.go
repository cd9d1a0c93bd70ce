package qemu

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// checksum is a parsed iso_checksum.
type checksum struct {
	typ string // md5, sha1, sha256, sha512; "" for none
	hex string
}

func newHash(typ string) hash.Hash {
	switch typ {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha512":
		return sha512.New()
	}
	return sha256.New()
}

// parseChecksum resolves iso_checksum for the file at loc (its URL or
// path, to find it in a checksum file). Prepare has checked the syntax.
func parseChecksum(ctx context.Context, spec, loc string) (checksum, error) {
	if spec == "" || strings.EqualFold(spec, "none") {
		return checksum{}, nil
	}
	typ, sum, ok := strings.Cut(spec, ":")
	if !ok {
		typ, sum = "", spec
	}
	typ = strings.ToLower(typ)
	if typ == "file" {
		return checksumFromFile(ctx, sum, loc)
	}
	if typ == "" {
		typ = map[int]string{32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}[len(sum)]
	}
	return checksum{typ: typ, hex: strings.ToLower(sum)}, nil
}

// checksumFromFile reads a checksum file (GNU "HEX  NAME" or BSD
// "SHA256 (NAME) = HEX" lines) and returns the entry for loc's base name.
func checksumFromFile(ctx context.Context, src, loc string) (checksum, error) {
	rc, err := open(ctx, src)
	if err != nil {
		return checksum{}, fmt.Errorf("checksum file: %w", err)
	}
	defer rc.Close()
	name := filepath.Base(loc)
	if u, err := url.Parse(loc); err == nil && u.Path != "" {
		name = filepath.Base(u.Path)
	}
	byLen := map[int]string{32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if typ, rest, ok := strings.Cut(line, " ("); ok {
			n, sum, ok := strings.Cut(rest, ") = ")
			if ok && filepath.Base(n) == name {
				return checksum{typ: strings.ToLower(typ), hex: strings.ToLower(sum)}, nil
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) == 2 && filepath.Base(strings.TrimPrefix(f[1], "*")) == name {
			if t := byLen[len(f[0])]; t != "" {
				return checksum{typ: t, hex: strings.ToLower(f[0])}, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return checksum{}, fmt.Errorf("checksum file %s: %w", src, err)
	}
	return checksum{}, fmt.Errorf("checksum file %s has no entry for %s", src, name)
}

// localPath returns the file a location names when it is local: a path or
// a file:// URL.
func localPath(loc string) (string, bool) {
	u, err := url.Parse(loc)
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 {
		return loc, true
	}
	if u.Scheme == "file" {
		if u.Opaque != "" {
			return u.Opaque, true
		}
		return u.Path, true
	}
	return "", false
}

// open opens a local path, file:// or http(s):// URL for reading.
func open(ctx context.Context, loc string) (io.ReadCloser, error) {
	if p, ok := localPath(loc); ok {
		return os.Open(p)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("get %s: %s", loc, resp.Status)
	}
	return resp.Body, nil
}

// digests hashes what is written to it: always sha256 (the artifact's
// digest), and the checksum's own type when it is another.
type digests struct {
	sha256 hash.Hash
	other  hash.Hash
	n      int64
	known  string // the sha256 (hex), when the build cache knew it (hashBase)
}

func newDigests(typ string) *digests {
	d := &digests{sha256: sha256.New()}
	if typ != "" && typ != "sha256" {
		d.other = newHash(typ)
	}
	return d
}

func (d *digests) Write(p []byte) (int, error) {
	d.sha256.Write(p)
	if d.other != nil {
		d.other.Write(p)
	}
	d.n += int64(len(p))
	return len(p), nil
}

func (d *digests) SHA256() string {
	if d.known != "" {
		return d.known
	}
	return hex.EncodeToString(d.sha256.Sum(nil))
}

// verify compares the digest of c's type with c.
func (d *digests) verify(c checksum, what string) error {
	if c.typ == "" {
		return nil
	}
	got := d.SHA256()
	if d.other != nil {
		got = hex.EncodeToString(d.other.Sum(nil))
	}
	if got != c.hex {
		return fmt.Errorf("%s: %s checksum mismatch: got %s, want %s (iso_checksum)", what, c.typ, got, c.hex)
	}
	return nil
}

// hashFile hashes the file at path with d.
func hashFile(path string, d *digests) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(d, f, make([]byte, 1<<20))
	return err
}

// pendingDigest is the sha256 of a file, taken in the background.
type pendingDigest struct {
	done   chan struct{}
	cancel context.CancelFunc
	sum    string
	err    error
}

// hashInBackground starts hashing path. With iso_checksum = "none" the
// base disk's digest is only recorded in the artifact, so nothing waits
// for it before the convert step: it is taken while the working disk is
// made and the guest boots (one core hashes, qemu's TCG vCPU runs on
// another). It reads until the end of the file or until stop.
func hashInBackground(path string) *pendingDigest {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pendingDigest{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		f, err := os.Open(path)
		if err != nil {
			p.err = err
			return
		}
		defer f.Close()
		h := sha256.New()
		buf := make([]byte, 1<<20)
		for {
			if err := ctx.Err(); err != nil {
				p.err = err
				return
			}
			n, err := f.Read(buf)
			h.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				p.err = err
				return
			}
		}
		p.sum = hex.EncodeToString(h.Sum(nil))
	}()
	return p
}

// wait returns the digest once it is taken, or ctx's cause.
func (p *pendingDigest) wait(ctx context.Context) (string, error) {
	select {
	case <-p.done:
		return p.sum, p.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

// stop ends the hashing and waits for it to let go of the file.
func (p *pendingDigest) stop() {
	p.cancel()
	<-p.done
}

// download fetches loc into dst, hashing it in the same pass and checking
// it against c before dst appears (it is written to a partial file of its
// own beside dst first, .NAME.*.part).
func download(ctx context.Context, loc, dst string, c checksum) (*digests, error) {
	rc, err := open(ctx, loc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// A partial file of this download's own: another build may be
	// downloading to the same iso_target_path, and its partial file is
	// not this one's to truncate or remove.
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.part")
	if err != nil {
		return nil, err
	}
	part := f.Name()
	d := newDigests(c.typ)
	_, err = io.CopyBuffer(io.MultiWriter(f, d), rc, make([]byte, 1<<20))
	if err == nil {
		err = f.Chmod(0o644) // as os.Create would have made it
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.verify(c, loc)
	}
	if err == nil {
		err = os.Rename(part, dst)
	}
	if err != nil {
		os.Remove(part)
		return nil, err
	}
	return d, nil
}

// imageInfo is what qemu-img info says about a disk.
type imageInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	ActualSize  int64  `json:"actual-size"`
	BackingFile string `json:"backing-filename"`
}

// qemuImg runs qemu-img with args and returns its stdout; its stderr is
// in the error.
func qemuImg(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "qemu-img", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("qemu-img is not installed (Debian: qemu-utils): %w", err)
		}
		if msg != "" {
			return nil, fmt.Errorf("qemu-img %s: %w: %s", args[0], err, msg)
		}
		return nil, fmt.Errorf("qemu-img %s: %w", args[0], err)
	}
	return stdout.Bytes(), nil
}

// inspectDisk reads path's format and size with qemu-img info, and refuses
// a file that is no disk image. qemu-img calls any file it does not
// recognise "raw", so a raw "disk" must at least be a whole number of
// 512-byte sectors and hold a MiB.
func inspectDisk(ctx context.Context, path string) (imageInfo, error) {
	info, err := diskInfo(ctx, path)
	if err != nil {
		return imageInfo{}, fmt.Errorf("base disk %s is not a disk image qemu-img can read: %w", path, err)
	}
	if info.Format == "raw" && (info.VirtualSize < 1<<20 || info.VirtualSize%512 != 0) {
		return imageInfo{}, fmt.Errorf("base disk %s is not a disk image: qemu-img sees %d bytes of unrecognised data (a raw disk is a whole number of 512-byte sectors, at least 1 MiB)", path, info.VirtualSize)
	}
	return info, nil
}

// diskInfo is what qemu-img info says of path.
func diskInfo(ctx context.Context, path string) (imageInfo, error) {
	out, err := qemuImg(ctx, "info", "--output=json", path)
	if err != nil {
		return imageInfo{}, err
	}
	var info imageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return imageInfo{}, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	return info, nil
}

// convertJobs is qemu-img convert's -m: how many coroutines read,
// compress and write at once. qemu compresses each cluster on a thread of
// its own, so more than one per core keeps the cores busy while others
// wait on I/O; qemu-img takes at most 16.
func convertJobs() int {
	return min(max(2*runtime.NumCPU(), 2), 16)
}

// parallelOpts returns "-m N -W" (parallel, out-of-order writes to the
// new file) unless qemu_img_args' convert list already chooses -m or -W.
func (c *Config) parallelOpts() []string {
	if q := c.QemuImgArgs; q != nil {
		for _, a := range q.Convert {
			if a == "-m" || a == "-W" || strings.HasPrefix(a, "-m") && len(a) > 2 && a[2] >= '0' && a[2] <= '9' {
				return nil
			}
		}
	}
	return []string{"-m", strconv.Itoa(convertJobs()), "-W"}
}

// compressOpts returns the qemu-img convert options that compress a qcow2
// output, with compression_type when it is set (zlib, qemu's default, is
// left implicit so the output opens in any qemu).
func (c *Config) compressOpts() []string {
	if !c.DiskCompression || c.Format != "qcow2" {
		return nil
	}
	opts := []string{"-c"}
	if c.CompressionType == "zstd" {
		opts = append(opts, "-o", "compression_type=zstd")
	}
	return opts
}

// overlayWork reports whether the VM can run on a qcow2 overlay on the
// base instead of a copy of it. The output of such a build is written by
// qemu-img convert, which reads through the overlay to the base and
// writes one standalone image, so copying the base first would only read
// and write it one more time (seconds for a disk of some hundred MiB,
// and as long again to delete the copy). Not with skip_compaction (the
// working disk itself becomes the output), use_backing_file (an overlay
// already) or qemu_img_args for create or convert (they were written for
// the copy). The base is opened only for reading, and must not change
// until the build has converted its disk.
func (b *Builder) overlayWork() bool {
	c := b.cfg
	if !c.DiskImage || c.UseBackingFile || c.SkipCompaction {
		return false
	}
	return c.QemuImgArgs == nil || len(c.QemuImgArgs.Convert) == 0 && len(c.QemuImgArgs.Create) == 0
}

// ficlone is Linux's FICLONE ioctl, _IOW(0x94, 9, int).
const ficlone = 0x40049409

// reflink makes dst a copy-on-write clone of src (FICLONE: btrfs, XFS,
// bcachefs, overlayfs on those), which takes no time and no space; it
// fails, leaving no dst, where the file system cannot.
func reflink(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, out.Fd(), ficlone, in.Fd()); errno != 0 {
		err = fmt.Errorf("reflink %s: %w", src, errno)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}
