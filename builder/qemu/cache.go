package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/cache/share"
	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/internal/gc"
	"github.com/bake-tool/bake/provisioners"
)

// The qemu build cache is a whole-build cache: when the output disk of a
// build with the same key is in the cache directory, and its bytes still
// have the digest recorded when it was stored, the build copies it into
// output_directory/vm_name and stops there. No qemu process starts, no
// temporary key or seed is made. A build that misses runs as before and,
// once the disk is converted, stores a copy of it under its key.

// cacheBlob is the name of the disk in its entry's blob directory.
const cacheBlob = "disk"

// cacheState is the cache's part of a build's state.
type cacheState struct {
	finalKey cache.Key    // the output's key; zero when not cacheable
	reused   *cache.Entry // the entry the output was copied from
}

// reused reports whether the build's output came from the cache: every
// step after the look-up is skipped.
func reused(s *state) bool { return s.cache.reused != nil }

// cacheSteps inserts, when the run has a cache, "look up the build cache"
// right after the base disk is found (its sha256 is the key's base), makes
// every later step skip itself when the look-up reused a disk, and adds
// "store in the build cache" after the disk is converted.
func (b *Builder) cacheSteps(steps []builder.Step[state]) []builder.Step[state] {
	if b.opts.Cache == nil {
		return steps
	}
	at := -1
	for i, st := range steps {
		if st.Name == "find base disk" || st.Name == "find ISO" {
			at = i
			break
		}
	}
	if at < 0 {
		return steps // not reached: the names are the builder's own
	}
	out := append([]builder.Step[state]{}, steps[:at+1]...)
	out = append(out, builder.Step[state]{Name: "look up the build cache", Run: b.cacheLookup})
	for _, st := range steps[at+1:] {
		st.Skip = reused
		out = append(out, st)
	}
	return insertSteps(out, "convert disk", 1, []buildStep{{Name: "store in the build cache", Run: b.cacheStore, Skip: reused}})
}

// hashBase hashes the local base disk (or ISO) at path into d. With the
// build cache, the sha256 the cache remembers for this very version of
// the file (same path, device, inode, size, mtime and ctime) is used
// instead, unless iso_checksum asks for another hash type; and a file it
// hashes is remembered so. Without the cache it is hashed every time.
func (b *Builder) hashBase(s *state, path, what string, d *digests) error {
	if b.opts.Cache == nil {
		s.ui.Say(fmt.Sprintf("hashing the %s %s", what, path))
		return hashFile(path, d)
	}
	store := b.opts.Cache.Store
	if d.other == nil {
		if sum, ok := store.RememberedSHA256(path); ok {
			s.ui.Say(fmt.Sprintf("the %s %s is unchanged since bake hashed it (sha256 %s)", what, path, sum[:16]))
			d.known = sum
			return nil
		}
	}
	s.ui.Say(fmt.Sprintf("hashing the %s %s", what, path))
	var w func([]byte)
	if d.other != nil {
		w = func(p []byte) { d.other.Write(p) }
	}
	sum, err := store.HashFile(path, w)
	if err != nil {
		return err
	}
	d.known = sum
	return nil
}

// notCacheable says why the build's output cannot be kept whole, or "".
func (b *Builder) notCacheable() string {
	if len(b.cfg.DiskAdditionalSize) > 0 {
		return "disk_additional_size: the cache keeps one disk per build"
	}
	return ""
}

// baseKey is the key of the machine before any provisioner ran: the base
// disk's (or ISO's) sha256 and every option that shapes what the guest
// becomes. That is the whole source block but for what only names the
// output or the base's location (output_directory, vm_name, iso_url(s),
// iso_checksum, iso_target_*), what only the host sees (accelerator,
// ports, bind addresses, VNC, display, QMP socket, headless) and waits
// (boot_wait, boot_key_interval, shutdown_timeout, ssh timeouts); of the
// communicator only its type and user. Files the guest reads are in by
// content: cd_files, http_directory, floppy_files, floppy_dirs, firmware,
// efi_firmware_code, efi_firmware_vars, and qemuargs' -kernel, -initrd,
// -dtb and -bios. With use_backing_file the output names the base by its
// path, which is then in the key too.
func (b *Builder) baseKey(s *state) (cache.Key, error) {
	c := *b.cfg
	c.ISOURL, c.ISOURLs, c.ISOChecksum, c.ISOTargetPath, c.ISOTargetExtension = "", nil, "", "", ""
	c.OutputDirectory, c.VMName = "", ""
	c.Accelerator = ""
	c.HTTPPortMin, c.HTTPPortMax, c.HTTPBindAddress = 0, 0, ""
	c.HostPortMin, c.HostPortMax, c.SSHHostPortMin, c.SSHHostPortMax = 0, 0, 0, 0
	c.VNCBindAddress, c.VNCPortMin, c.VNCPortMax, c.Headless, c.DisableVNC, c.VNCUsePassword = "", 0, 0, false, false, false
	c.Display, c.UseDefaultDisplay = "", false
	c.QMPEnable, c.QMPSocketPath = false, ""
	c.BootWait, c.BootKeyInterval, c.ShutdownTimeout = 0, 0, 0
	c.Config = communicator.Config{}
	opts, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("cache key: %w", err)
	}
	h := cache.NewHasher("qemu base")
	h.String("base_sha256", s.baseSHA256)
	h.String("options", string(opts))
	h.String("communicator", b.cfg.Type)
	h.String("ssh_username", b.cfg.Username)
	if b.cfg.UseBackingFile {
		h.String("backing_file", s.base)
	}
	for _, pat := range b.cfg.CDFiles {
		hashGlob(h, "cd_files", pat)
	}
	if b.cfg.HTTPDirectory != "" {
		h.File("http_directory", b.cfg.HTTPDirectory)
	}
	for _, pat := range b.cfg.FloppyFiles {
		hashGlob(h, "floppy_files", pat)
	}
	for _, pat := range b.cfg.FloppyDirs {
		hashGlob(h, "floppy_dirs", pat)
	}
	for name, p := range map[string]string{"firmware": b.cfg.Firmware, "efi_firmware_code": b.cfg.EFIFirmwareCode, "efi_firmware_vars": b.cfg.EFIFirmwareVars} {
		if p != "" {
			h.File(name, p)
		}
	}
	for _, arg := range b.cfg.QemuArgs {
		if len(arg) == 2 {
			switch arg[0] {
			case "-kernel", "-initrd", "-dtb", "-bios":
				h.File("qemuargs "+arg[0], arg[1])
			}
		}
	}
	return h.Sum()
}

// hashGlob adds the files a path or glob names.
func hashGlob(h *cache.Hasher, name, pat string) {
	matches := []string{pat}
	if strings.ContainsAny(pat, "*?[") {
		m, err := filepath.Glob(pat)
		if err != nil || len(m) == 0 {
			h.String(name, "no match: "+pat)
			return
		}
		matches = m
	}
	for _, p := range matches {
		h.File(name+" "+p, p)
	}
}

// finalKey is the output disk's key: the last step's (the base's when
// there are no provisioners).
func finalKey(last cache.Key) cache.Key {
	if last == "" {
		return ""
	}
	h := cache.NewHasher("qemu disk")
	h.Key("last", last)
	k, _ := h.Sum()
	return k
}

// cacheLookup computes the build's keys and, when the cache holds its
// output disk with the recorded digest, copies it into place: the build
// is then done. A damaged entry (a blob that is gone, truncated or
// changed) is removed, said, and the build runs.
func (b *Builder) cacheLookup(ctx context.Context, s *state) error {
	// A disk -force set aside and the look-up did not keep is removed
	// before the build goes on.
	defer dropKept(s)
	cb := b.opts.Cache
	if why := b.notCacheable(); why != "" {
		s.ui.Say("cache: this build is not cached: " + why)
		return nil
	}
	base, err := b.baseKey(s)
	if err != nil {
		s.ui.Say(fmt.Sprintf("cache: this build is not cached: %v", err))
		return nil
	}
	keys, err := cb.Keys(base, b.keyInfo())
	if err != nil {
		return err
	}
	last := base
	if len(keys) > 0 {
		last = keys[len(keys)-1].Key
	}
	s.cache.finalKey = finalKey(last)
	cb.SetFinal(s.cache.finalKey, false)
	if s.cache.finalKey == "" {
		return nil
	}
	store := cb.Store
	k := s.cache.finalKey
	unlock, err := store.Lock(k)
	if err != nil {
		return err
	}
	// Unlocked before the push (seconds for a large disk), so that
	// another build of the key is not held up by it.
	var toPush *cache.Entry
	defer func() {
		unlock()
		if toPush != nil {
			b.pushShared(ctx, s, toPush)
		}
	}()
	e, err := store.Get(k)
	if err != nil {
		return err
	}
	if e == nil {
		if e = b.pullShared(ctx, s, k); e == nil {
			return nil
		}
	}
	if e.Kind != cache.KindQemuDisk {
		s.ui.Error(fmt.Sprintf("cache: entry %s is a %s entry, not a qemu disk: not used, rebuilding", k.Short(), e.Kind))
		return store.Remove(k)
	}
	out := filepath.Join(s.outDir, b.cfg.VMName)
	t0 := time.Now()
	how := "copied to " + out
	digest, size, ok := b.reuseKept(s, out, e.Digest)
	if ok {
		how = "kept " + out + " in place (its sha256 is the entry's)"
	} else {
		dropKept(s)
		digest, size, err = store.CopyOut(k, cacheBlob, out, e.Digest)
		if err != nil {
			var d *cache.DamagedError
			if !errors.As(err, &d) && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("copy the cached disk: %w", err)
			}
			s.ui.Error(fmt.Sprintf("cache: entry %s is damaged (%v): not used, rebuilding", k.Short(), err))
			return store.Remove(k)
		}
	}
	// CopyOut hashed the bytes as it wrote them and checked the digest
	// (reuseKept hashed the disk it kept): the manifest and a checksum
	// post-processor reuse it.
	sum := strings.TrimPrefix(digest, "sha256:")
	artifacts.Remember(out, sum)
	if err := store.Touch(e); err != nil {
		s.ui.Error(fmt.Sprintf("cache: %s", err))
	}
	s.cache.reused = e
	cb.SetFinal(k, true)
	for i := range keys {
		cb.Reused(i, &cache.Entry{Key: keys[i].Key, RunID: e.RunID})
	}
	s.art = b.diskArtifact(s, out, sum, size)
	s.art.State["cache_key"] = string(k)
	delete(s.art.State, "accelerator") // no guest ran
	s.ui.Say(fmt.Sprintf("cache: reusing the disk of run %s (key %s): %s (%d MiB) in %s; qemu does not start",
		e.RunID, k.Short(), how, size>>20, time.Since(t0).Round(10*time.Millisecond)))
	toPush = e
	return nil
}

// keyInfo is what the provisioners are evaluated with for their keys:
// the build's names and the communicator's user and password. The
// machine's address and the temporary key are not known before it boots
// and only name that machine: they are not in the key.
func (b *Builder) keyInfo() (info provisioners.BuildInfo) {
	info = b.opts.BuildInfo("qemu")
	if b.cfg.Type == communicator.SSH {
		info.User = b.cfg.Username
		info.Password = b.cfg.Password
	}
	return info
}

// cacheStore keeps a copy of the converted disk under the build's key,
// unless another build stored it meanwhile. A failure is said, not fatal:
// the build has its output either way.
func (b *Builder) cacheStore(ctx context.Context, s *state) error {
	k := s.cache.finalKey
	if k == "" || s.art == nil || len(s.art.Items) == 0 {
		return nil
	}
	if err := b.store(s, k); err != nil {
		s.ui.Error(fmt.Sprintf("cache: store the disk: %v", err))
		return nil
	}
	if e, _ := b.opts.Cache.Store.Get(k); e != nil {
		b.pushShared(ctx, s, e)
	}
	return nil
}

// pullShared downloads k's disk from the -cache-from registry into the
// local cache, checking its digest as it arrives, and returns the local
// entry; nil when the registry has none. A registry that cannot be
// reached or refuses is a warning: the build runs.
func (b *Builder) pullShared(ctx context.Context, s *state, k cache.Key) *cache.Entry {
	sh := b.opts.SharedCache
	if !sh.CanRead() {
		return nil
	}
	t0 := time.Now()
	rc, desc, meta, err := sh.File(ctx, k, cache.KindQemuDisk)
	if errors.Is(err, share.ErrNotFound) {
		return nil
	}
	if err != nil {
		s.ui.Error(fmt.Sprintf("warning: cache: %s; going on without the shared cache", err))
		return nil
	}
	defer rc.Close()
	store := b.opts.Cache.Store
	digest, size, err := store.PutReader(k, cacheBlob, rc, desc.Digest.String())
	if err == nil {
		err = store.Put(&cache.Entry{Key: k, Kind: cache.KindQemuDisk, Build: meta.Build, Step: meta.Step, RunID: meta.RunID,
			Ref: cacheBlob, Digest: digest, Size: size, Extra: map[string]string{"format": b.cfg.Format, "from": sh.From()}})
	}
	if err != nil {
		store.Remove(k)
		if ctx.Err() == nil {
			s.ui.Error(fmt.Sprintf("warning: cache: download disk %s from %s: %s; going on without it", k.Short(), sh.From(), err))
		}
		return nil
	}
	s.ui.Say(fmt.Sprintf("cache: downloaded the disk of key %s (built by run %s, %d MiB) from %s in %s",
		k.Short(), meta.RunID, size>>20, sh.From(), time.Since(t0).Round(10*time.Millisecond)))
	e, _ := store.Get(k)
	return e
}

// pushShared writes e's disk to the -cache-to registry unless it holds
// it already. A registry that cannot be reached or refuses is a warning.
func (b *Builder) pushShared(ctx context.Context, s *state, e *cache.Entry) {
	sh := b.opts.SharedCache
	if !sh.CanWrite() {
		return
	}
	t0 := time.Now()
	has, err := sh.Has(ctx, e.Key)
	if err == nil && has {
		return
	}
	if err == nil {
		err = sh.PushFile(ctx, filepath.Join(b.opts.Cache.Store.BlobDir(e.Key), cacheBlob), e.Digest,
			share.Meta{Key: e.Key, Kind: e.Kind, RunID: e.RunID, Build: e.Build, Step: e.Step})
	}
	if err != nil {
		s.ui.Error(fmt.Sprintf("warning: cache: not shared: %s", err))
		return
	}
	s.ui.Say(fmt.Sprintf("cache: pushed the disk (%d MiB) to %s in %s", e.Size>>20, sh.To(), time.Since(t0).Round(10*time.Millisecond)))
}

func (b *Builder) store(s *state, k cache.Key) error {
	store := b.opts.Cache.Store
	unlock, err := store.Lock(k)
	if err != nil {
		return err
	}
	defer unlock()
	if e, _ := store.Get(k); e != nil && e.Kind == cache.KindQemuDisk && store.CheckFile(k, cacheBlob, e.Digest) == nil {
		return nil
	}
	item := s.art.Items[0]
	t0 := time.Now()
	digest, size, err := store.PutFile(k, cacheBlob, item.Path)
	if err != nil {
		store.Remove(k)
		return err
	}
	if digest != item.Digest {
		store.Remove(k)
		return fmt.Errorf("%s changed while it was copied (digest %s, the build wrote %s)", item.Path, digest, item.Digest)
	}
	if err := store.Put(&cache.Entry{Key: k, Kind: cache.KindQemuDisk, Build: b.name, Step: "convert disk", RunID: b.opts.RunID,
		Ref: cacheBlob, Digest: digest, Size: size, Extra: map[string]string{"format": b.cfg.Format}}); err != nil {
		store.Remove(k)
		return err
	}
	s.ui.Say(fmt.Sprintf("cache: stored the disk under key %s (%d MiB) in %s", k.Short(), size>>20, time.Since(t0).Round(10*time.Millisecond)))
	return nil
}

// keepOutput is -force's replacement of an existing output directory when
// the build cache is on and the directory holds a disk named vm_name (a
// developer rerunning a build, a CI job whose workspace persists):
// everything in the directory but that disk is removed, as -force would
// remove the directory, and the disk is set aside as .VM.RUN.keep. The
// cache's look-up keeps it as the output only when its sha256, taken in
// full from its bytes, is the entry's digest (reuseKept); otherwise (a
// miss, a build that is not cached, another disk) it is removed before
// the build goes on. A kept disk is the same file: its inode and mtime
// do not change. It returns false when it does nothing (no cache, a
// build the cache does not keep, a symlink, no regular file vm_name):
// the directory is then removed as before.
func (b *Builder) keepOutput(s *state, dir string) (bool, error) {
	if b.opts.Cache == nil || b.notCacheable() != "" {
		return false, nil
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return false, nil
	}
	disk := filepath.Join(dir, b.cfg.VMName)
	if fi, err := os.Lstat(disk); err != nil || !fi.Mode().IsRegular() {
		return false, nil
	}
	// Recorded as the build's output directory, as a new one is: bake gc
	// removes it after a crash (-force had removed the old one already).
	j := b.journal()
	if err := j.Add(b.runID, gc.Place{Kind: "qemu output directory", Path: dir, Build: b.name}); err != nil {
		s.ui.Say(fmt.Sprintf("warning: bake gc will not find %s after a crash: %v", dir, err))
	}
	keep := filepath.Join(dir, "."+b.cfg.VMName+"."+b.runID+".keep")
	if err := os.Rename(disk, keep); err != nil {
		_ = j.Release(b.runID, dir)
		return false, fmt.Errorf("output directory %s: set its disk aside: %w", dir, err)
	}
	s.outDir, s.createdOut, s.kept = dir, true, keep
	ents, err := os.ReadDir(dir)
	if err != nil {
		return true, fmt.Errorf("empty the output directory %s (-force): %w", dir, err)
	}
	for _, e := range ents {
		if e.Name() == filepath.Base(keep) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return true, fmt.Errorf("empty the output directory %s (-force): %w", dir, err)
		}
	}
	s.ui.Say(fmt.Sprintf("emptying the existing output directory %s (-force); its disk %s is set aside until the build cache shows whether it is unchanged",
		dir, b.cfg.VMName))
	return true, nil
}

// reuseKept makes the disk keepOutput set aside the output out when its
// sha256 is want, the cache entry's digest ("sha256:<hex>"), and returns
// that digest and the disk's size. It hashes every byte: a disk whose
// size and mtime look unchanged may still have been written. It returns
// false, having said why when it hashed, when the cached disk must be
// copied.
func (b *Builder) reuseKept(s *state, out, want string) (string, int64, bool) {
	if s.kept == "" {
		return "", 0, false
	}
	d := newDigests("")
	if err := hashFile(s.kept, d); err != nil {
		s.ui.Error(fmt.Sprintf("cache: hash the disk already in %s: %v; copying the cached disk", s.outDir, err))
		return "", 0, false
	}
	got := "sha256:" + d.SHA256()
	if got != want {
		s.ui.Error(fmt.Sprintf("cache: the disk already in %s (%s) is not the cache entry's (%s): replacing it with the cached disk", s.outDir, got, want))
		return "", 0, false
	}
	if err := os.Rename(s.kept, out); err != nil {
		s.ui.Error(fmt.Sprintf("cache: keep the disk already in %s: %v; copying the cached disk", s.outDir, err))
		return "", 0, false
	}
	s.kept = ""
	return got, d.n, true
}

// dropKept removes the disk keepOutput set aside, unless it became the
// output.
func dropKept(s *state) {
	if s.kept != "" {
		os.Remove(s.kept)
		s.kept = ""
	}
}
