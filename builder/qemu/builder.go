package qemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/internal/gc"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// GuestHostIP is the address at which a guest on qemu's user-mode network
// reaches the build host (and so the HTTP server): {{ .HTTPIP }}.
const GuestHostIP = "10.0.2.2"

// netID is the id of bake's network backend, the one Packer templates
// name in their qemuargs.
const netID = "user.0"

// hostfwdRetries is how many ports bake tries when qemu cannot bind the
// forwarded one (another program took it after bake checked).
const hostfwdRetries = 5

// Builder is the qemu source: it boots a VM with qemu from a base disk (or
// an ISO), lets the provisioners in over SSH, shuts the VM down and
// converts its disk with qemu-img into output_directory/vm_name.
type Builder struct {
	cfg  *Config
	opts builder.Options
	// name is the build's "type.name".
	name string
	// runID names everything the build creates.
	runID string
	// ports hands out the forwarded SSH port.
	ports portAllocator
	// getenv reads the environment (EnvKVM); tests replace it.
	getenv func(string) string
	// beforeType, when set, runs after boot_wait and before the boot
	// command is typed, with the serial console log's path; tests use it
	// to wait for the guest's boot prompt instead of guessing a boot_wait.
	beforeType func(ctx context.Context, console string) error
}

var _ builder.Builder = (*Builder)(nil)

// New returns the builder for cfg, a Config that went through Prepare.
// When opts.RunID is empty a random one is made up, so that what the build
// creates can still be told apart.
func New(cfg *Config, opts builder.Options) *Builder {
	runID := opts.RunID
	if runID == "" {
		var b [6]byte
		rand.Read(b[:])
		runID = hex.EncodeToString(b[:])
	}
	name := opts.BuildName("qemu")
	return &Builder{cfg: cfg, opts: opts, name: name, runID: runID, getenv: os.Getenv}
}

// NewBuilder is the engine's constructor for the "qemu" source type: cfg
// must be a prepared *Config.
func NewBuilder(cfg templates.Config, opts builder.Options) (builder.Builder, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("qemu builder: config is %T, not *qemu.Config", cfg)
	}
	return New(c, opts), nil
}

// state is what the build's steps share.
type state struct {
	ui ui.UI

	outDir     string // absolute output_directory
	createdOut bool   // this build made outDir
	tmpDir     string // seed, console log, QMP socket, key

	base       string // the base disk or ISO, local and absolute
	downloaded string // base, when this build downloaded it to a temporary file
	baseInfo   imageInfo
	baseSHA256 string
	baseDigest *pendingDigest // baseSHA256 while it is taken (iso_checksum none)

	work    string       // the disk the VM runs on
	overlay bool         // work is a qcow2 overlay on base (overlayWork)
	pre     *precompress // the base compressed into the output while the guest runs

	key        *ssh.KeyPair // the temporary key, if any
	privateKey []byte       // the key the communicator logs in with
	seed       string       // the NoCloud/cd_files ISO, if any

	httpSrv  *http.Server
	httpPort int

	efiVars  string // the per-build copy of efi_firmware_vars
	firmware string // the per-build copy of firmware, with use_pflash
	tpm      *swtpm // the vTPM's emulator
	userQMP  string // the QMP socket of qmp_enable

	media mediaState // the floppy and the additional disks

	port    *heldPort // the host port forwarded to the guest's SSH port
	accel   string
	console string
	vm      *vm

	comm *ssh.Comm

	// kept is, with -force and the build cache, the disk the existing
	// output directory held, set aside until the cache's look-up finds
	// whether it is the entry's very disk (keepOutput).
	kept string

	art *artifacts.Artifact

	cache cacheState // the build cache's look-up (cache.go)
}

// Build runs the steps: output directory, base disk, working disk, key,
// seed, HTTP server, qemu, SSH, provisioning, graceful shutdown and, once
// qemu has exited, the conversion of the disk. Everything it made but the
// output is removed on every path; the output directory too when the build
// fails, unless -on-error=abort.
func (b *Builder) Build(ctx context.Context, ui ui.UI, hook builder.Hook) (*artifacts.Artifact, error) {
	s := &state{ui: ui}
	steps := []builder.Step[state]{
		{Name: "prepare output directory", Run: b.prepareOutput, Cleanup: b.removeFailedOutput, Leftover: leftOutput},
		{Name: "create temporary directory", Run: b.makeTemp, Cleanup: removeTemp, Leftover: leftTemp},
		{Name: "find base disk", Run: b.findBase, Cleanup: removeDownload},
		{Name: "create disk", Run: b.createDisk, Cleanup: removeWorkDisk},
		{Name: "prepare SSH key", Run: b.prepareKey},
		{Name: "create CD", Run: b.createCD},
		{Name: "start HTTP server", Run: b.startHTTP, Cleanup: stopHTTP},
		{Name: "start qemu", Run: b.startQemu, Cleanup: stopQemu, Leftover: leftQemu},
		{Name: "type boot command", Run: b.typeBootCommand},
		{Name: "wait for SSH", Run: b.waitSSH, Cleanup: closeComm},
		{Name: "provision", Run: func(ctx context.Context, s *state) error { return b.provision(ctx, s, hook) }},
		{Name: "shut down", Run: b.shutdown},
		{Name: "convert disk", Run: b.convert},
	}
	if !b.cfg.DiskImage {
		steps[2].Name = "find ISO"
	}
	if b.cfg.Type != communicator.SSH {
		steps = append(steps[:9], steps[10:]...)
	}
	if b.precompressWanted() {
		steps = insertSteps(steps, "create disk", 1, []buildStep{
			{Name: "compress the base in the background", Run: b.startPrecompress, Cleanup: stopPrecompress, Leftover: leftPrecompress}})
	}
	steps = b.hardwareSteps(steps)
	steps = b.mediaSteps(steps)
	steps = b.cacheSteps(steps)
	if err := builder.RunSteps(ctx, b.opts, ui, s, steps); err != nil {
		return nil, err
	}
	return s.art, nil
}

// unsafeToRemove says why -force must not remove dir, an absolute path:
// Packer removes whatever output_directory names, so output_directory = "."
// deletes the template with everything else. bake refuses the working
// directory, a directory that holds it, the home directory and /.
func unsafeToRemove(dir string) string {
	dir = filepath.Clean(dir)
	if dir == "/" {
		return "the root directory"
	}
	if home, err := os.UserHomeDir(); err == nil && filepath.Clean(home) == dir {
		return "your home directory"
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(dir, wd); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
			if rel == "." {
				return "the working directory"
			}
			return "a directory that holds the working directory"
		}
	}
	return ""
}

// prepareOutput creates output_directory, refusing an existing one unless
// -force, which replaces it.
func (b *Builder) prepareOutput(_ context.Context, s *state) error {
	dir, err := filepath.Abs(b.cfg.OutputDirectory)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if _, err := os.Stat(dir); err == nil {
		if !b.opts.Force {
			return fmt.Errorf("output directory %s already exists: remove it or use -force", dir)
		}
		if why := unsafeToRemove(dir); why != "" {
			return fmt.Errorf("output directory %s already exists and -force will not remove it: it is %s; choose an output_directory of its own", dir, why)
		}
		kept, err := b.keepOutput(s, dir)
		if err != nil {
			return err
		}
		if kept {
			return nil
		}
		s.ui.Say(fmt.Sprintf("removing the existing output directory %s (-force)", dir))
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove output directory: %w", err)
		}
	}
	// Recorded before it exists, so that bake gc finds it after a crash
	// at any point.
	j := b.journal()
	if err := j.Add(b.runID, gc.Place{Kind: "qemu output directory", Path: dir, Build: b.name}); err != nil {
		s.ui.Say(fmt.Sprintf("warning: bake gc will not find %s after a crash: %v", dir, err))
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		_ = j.Release(b.runID, dir)
		return fmt.Errorf("create output directory: %w", err)
	}
	// Mkdir, not MkdirAll: the directory is the build's, to remove when it
	// fails, only if this call made it. Another build may have made it
	// since the check above.
	if err := os.Mkdir(dir, 0o755); err != nil {
		_ = j.Release(b.runID, dir)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("output directory %s already exists (made by another build meanwhile?): remove it or use -force", dir)
		}
		return fmt.Errorf("create output directory: %w", err)
	}
	s.outDir, s.createdOut = dir, true
	return nil
}

// removeFailedOutput removes the output directory when the build failed.
// The journal then forgets it, or, when it holds the artifact, keeps it
// as one: bake gc removes it only if the run crashes before it ends.
func (b *Builder) removeFailedOutput(ctx context.Context, s *state) error {
	if !s.createdOut {
		return nil
	}
	if !builder.Failed(ctx) {
		_ = b.journal().Keep(b.runID, s.outDir)
		return nil
	}
	if err := os.RemoveAll(s.outDir); err != nil {
		return fmt.Errorf("remove output directory: %w", err)
	}
	_ = b.journal().Release(b.runID, s.outDir)
	s.createdOut = false
	return nil
}

func leftOutput(s *state) string {
	if !s.createdOut {
		return ""
	}
	return fmt.Sprintf("output directory %s (rm -rf %s)", s.outDir, s.outDir)
}

// tempRoot is where a build's temporary directory goes: os.TempDir(),
// unless a unix socket inside it would not fit in sun_path (108 bytes with
// its NUL) — a long $TMPDIR — and then /tmp.
func tempRoot() string {
	// bake-qemu-<36-char run id>-<10 random digits>/qmp.sock
	const inside = len("/bake-qemu-") + 36 + len("-1234567890/qmp.sock")
	if d := os.TempDir(); len(d)+inside < 108 {
		return d
	}
	return "/tmp"
}

func (b *Builder) makeTemp(_ context.Context, s *state) error {
	dir, err := os.MkdirTemp(tempRoot(), "bake-qemu-"+b.runID+"-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	s.tmpDir = dir
	s.console = filepath.Join(dir, "console.log")
	return nil
}

func removeTemp(_ context.Context, s *state) error {
	if s.tmpDir == "" {
		return nil
	}
	if err := os.RemoveAll(s.tmpDir); err != nil {
		return fmt.Errorf("remove temporary directory: %w", err)
	}
	s.tmpDir = ""
	return nil
}

func leftTemp(s *state) string {
	if s.tmpDir == "" {
		return ""
	}
	return fmt.Sprintf("temporary directory %s with the guest's console log (rm -rf %s)", s.tmpDir, s.tmpDir)
}

// findBase resolves iso_url (or the first of iso_urls that works) to a
// local file: a path or file:// URL is used in place, never written; an
// http(s) URL is downloaded to iso_target_path, or a temporary file, and
// checked against iso_checksum while it downloads. A local file is hashed
// once, for iso_checksum and for the artifact's record of its parent.
func (b *Builder) findBase(ctx context.Context, s *state) error {
	urls := b.cfg.ISOURLs
	if b.cfg.ISOURL != "" {
		urls = []string{b.cfg.ISOURL}
	}
	var errs []error
	for _, loc := range urls {
		err := b.fetch(ctx, s, loc)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (b *Builder) fetch(ctx context.Context, s *state, loc string) error {
	what := "base disk"
	if !b.cfg.DiskImage {
		what = "ISO"
	}
	sum, err := parseChecksum(ctx, b.cfg.ISOChecksum, loc)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, loc, err)
	}
	var d *digests
	if p, ok := localPath(loc); ok {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, loc, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if fi.IsDir() {
			return fmt.Errorf("%s %s is a directory", what, abs)
		}
		s.base = abs
		if sum.typ != "" || b.opts.Cache != nil {
			// A checksum is verified before the build goes on; the
			// cache's key needs the base's sha256 before the look-up
			// (remembered when the file is unchanged, else read now).
			d = newDigests(sum.typ)
			if err := b.hashBase(s, abs, what, d); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if err := d.verify(sum, abs); err != nil {
				return err
			}
		}
	} else {
		dst := b.cfg.ISOTargetPath
		if dst != "" {
			if fi, err := os.Stat(dst); err == nil && !fi.IsDir() && sum.typ != "" {
				d = newDigests(sum.typ)
				if herr := hashFile(dst, d); herr == nil && d.verify(sum, dst) == nil {
					s.ui.Say(fmt.Sprintf("using %s, downloaded before (its checksum matches)", dst))
				} else {
					d = nil
				}
			}
		} else {
			dst = filepath.Join(s.outDir, "."+b.cfg.VMName+"."+b.runID+".download")
			s.downloaded = dst
		}
		if d == nil {
			s.ui.Say(fmt.Sprintf("downloading %s", loc))
			if d, err = download(ctx, loc, dst, sum); err != nil {
				return fmt.Errorf("download %s %s: %w", what, loc, err)
			}
		}
		if s.base, err = filepath.Abs(dst); err != nil {
			return err
		}
	}
	if sum.typ == "" {
		s.ui.Say(fmt.Sprintf("%s not verified: iso_checksum is none", what))
	}
	if b.cfg.DiskImage {
		info, err := inspectDisk(ctx, s.base)
		if err != nil {
			return err
		}
		s.baseInfo = info
	}
	if d != nil {
		s.baseSHA256 = d.SHA256()
	} else {
		// Nothing to verify: the digest is only recorded in the
		// artifact, so it is taken while the build goes on.
		s.ui.Say(fmt.Sprintf("hashing the %s %s for the artifact's record while the build goes on", what, s.base))
		s.baseDigest = hashInBackground(s.base)
	}
	return nil
}

func removeDownload(ctx context.Context, s *state) error {
	if s.baseDigest != nil {
		s.baseDigest.stop()
		s.baseDigest = nil
	}
	if s.downloaded == "" {
		return nil
	}
	if err := os.Remove(s.downloaded); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.downloaded = ""
	return nil
}

// createDisk makes the disk the VM runs on, beside the output: an overlay
// on the base (use_backing_file), a copy of it in the output format, or an
// empty disk of disk_size for an ISO install. The base is opened only for
// reading. disk_size then grows the disk; shrinking is refused, as it
// would cut off the base's data.
func (b *Builder) createDisk(ctx context.Context, s *state) error {
	s.work = filepath.Join(s.outDir, "."+b.cfg.VMName+"."+b.runID+".work")
	size := int64(b.cfg.DiskSize)
	switch {
	case !b.cfg.DiskImage:
		s.ui.Say(fmt.Sprintf("creating an empty %s disk of %d MiB", b.cfg.Format, size>>20))
		if _, err := qemuImg(ctx, b.cfg.imgArgs("create", []string{"-q", "-f", b.cfg.Format}, s.work, strconv.FormatInt(size, 10))...); err != nil {
			return fmt.Errorf("create disk: %w", err)
		}
		return nil
	case b.cfg.UseBackingFile:
		s.ui.Say(fmt.Sprintf("creating a qcow2 overlay on %s", s.base))
		if _, err := qemuImg(ctx, b.cfg.imgArgs("create", []string{"-q", "-f", "qcow2", "-F", s.baseInfo.Format, "-b", s.base}, s.work)...); err != nil {
			return fmt.Errorf("create overlay: %w", err)
		}
	case !b.precompressWanted() && s.baseInfo.Format == b.cfg.Format && s.baseInfo.BackingFile == "" && (b.cfg.QemuImgArgs == nil || len(b.cfg.QemuImgArgs.Convert) == 0) && reflink(s.base, s.work) == nil:
		// Not when the base can be compressed while the guest runs
		// (precompress.go): that needs the guest's writes in an overlay.
		s.ui.Say(fmt.Sprintf("cloned the base disk as the working disk (reflink, %s)", b.cfg.Format))
	case b.overlayWork():
		s.ui.Say(fmt.Sprintf("creating a qcow2 overlay on %s as the working disk (the output is converted from it, so the base is not copied)", s.base))
		if _, err := qemuImg(ctx, "create", "-q", "-f", "qcow2", "-F", s.baseInfo.Format, "-b", s.base, s.work); err != nil {
			return fmt.Errorf("create overlay: %w", err)
		}
		s.overlay = true
	default:
		s.ui.Say(fmt.Sprintf("copying the base disk to a %s working disk", b.cfg.Format))
		opts := append([]string{"-f", s.baseInfo.Format, "-O", b.cfg.Format}, b.cfg.parallelOpts()...)
		if _, err := qemuImg(ctx, b.cfg.imgArgs("convert", opts, s.base, s.work)...); err != nil {
			return fmt.Errorf("copy base disk: %w", err)
		}
	}
	if size == 0 || b.cfg.SkipResizeDisk || size == s.baseInfo.VirtualSize {
		return nil
	}
	if size < s.baseInfo.VirtualSize {
		return fmt.Errorf("disk_size %d MiB is smaller than the base disk's %d MiB: bake does not shrink disks", size>>20, s.baseInfo.VirtualSize>>20)
	}
	s.ui.Say(fmt.Sprintf("growing the disk to %d MiB", size>>20))
	if _, err := qemuImg(ctx, b.cfg.imgArgs("resize", []string{"-q", "-f", b.workFormat(s)}, s.work, strconv.FormatInt(size, 10))...); err != nil {
		return fmt.Errorf("resize disk: %w", err)
	}
	return nil
}

// workFormat is the working disk's format.
func (b *Builder) workFormat(s *state) string {
	if b.cfg.UseBackingFile || s.overlay {
		return "qcow2"
	}
	return b.cfg.Format
}

func removeWorkDisk(_ context.Context, s *state) error {
	if s.work == "" {
		return nil
	}
	if err := os.Remove(s.work); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove working disk: %w", err)
	}
	s.work = ""
	return nil
}

// tempKeyNeeded reports whether the build logs in with a temporary key:
// the SSH communicator without a password, key file or agent.
func (b *Builder) tempKeyNeeded() bool {
	c := b.cfg.Config
	return c.Type == communicator.SSH && c.Password == "" && c.PrivateKeyFile == "" && !c.AgentAuth
}

// prepareKey reads ssh_private_key_file, or makes the temporary key.
func (b *Builder) prepareKey(_ context.Context, s *state) error {
	c := b.cfg.Config
	if c.Type != communicator.SSH {
		return nil
	}
	if c.PrivateKeyFile != "" {
		key, err := os.ReadFile(c.PrivateKeyFile)
		if err != nil {
			return fmt.Errorf("ssh_private_key_file: %w", err)
		}
		s.privateKey = key
		return nil
	}
	if !b.tempKeyNeeded() {
		return nil
	}
	key, err := ssh.GenerateKeyPair()
	if err != nil {
		return err
	}
	s.key, s.privateKey = key, key.PrivateKey
	s.ui.Say("made a temporary ed25519 SSH key; the CD's cloud-init user-data carries it to the guest")
	return nil
}

// createCD writes the CD image from cd_files and cd_content and, when the
// build logs in with a temporary key, a cloud-init NoCloud user-data and
// meta-data carrying it (unless the template gives its own user-data).
func (b *Builder) createCD(ctx context.Context, s *state) error {
	if len(b.cfg.CDFiles) == 0 && len(b.cfg.CDContent) == 0 && s.key == nil {
		return nil
	}
	dir := filepath.Join(s.tmpDir, "cd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	top, err := seedFiles(dir, b.cfg.CDFiles, b.cfg.CDContent)
	if err != nil {
		return err
	}
	if s.key != nil {
		has := map[string]bool{}
		for _, n := range top {
			has[strings.ToLower(n)] = true
		}
		if has["user-data"] {
			s.ui.Error("the CD has the template's own user-data, so the temporary SSH key is not added to it: " +
				"put build.SSHPublicKey in it, or set ssh_password or ssh_private_key_file")
		} else {
			if err := os.WriteFile(filepath.Join(dir, "user-data"), []byte(userData(b.cfg.Username, string(s.key.AuthorizedKey))), 0o644); err != nil {
				return err
			}
			if !has["meta-data"] {
				if err := os.WriteFile(filepath.Join(dir, "meta-data"), []byte(metaData("bake-"+b.runID)), 0o644); err != nil {
					return err
				}
			}
		}
	}
	s.seed = filepath.Join(s.tmpDir, "cd-"+b.runID+".iso")
	if err := makeISO(ctx, s.seed, b.cfg.CDLabel, dir); err != nil {
		return fmt.Errorf("create CD: %w", err)
	}
	return nil
}

// startHTTP serves http_directory or http_content to the guest.
func (b *Builder) startHTTP(_ context.Context, s *state) error {
	var h http.Handler
	switch {
	case b.cfg.HTTPDirectory != "":
		h = http.FileServer(http.Dir(b.cfg.HTTPDirectory))
	case len(b.cfg.HTTPContent) > 0:
		content := b.cfg.HTTPContent
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := content[r.URL.Path]
			if !ok {
				c, ok = content[strings.TrimPrefix(r.URL.Path, "/")]
			}
			if !ok {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, c)
		})
	default:
		return nil
	}
	ln, err := listenInRange(b.cfg.HTTPBindAddress, b.cfg.HTTPPortMin, b.cfg.HTTPPortMax)
	if err != nil {
		return fmt.Errorf("http server: %w", err)
	}
	s.httpPort = ln.Addr().(*net.TCPAddr).Port
	s.httpSrv = &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go s.httpSrv.Serve(ln)
	s.ui.Say(fmt.Sprintf("serving HTTP to the guest at http://%s:%d/", GuestHostIP, s.httpPort))
	return nil
}

// listenInRange listens on the first free port of lo..hi.
func listenInRange(addr string, lo, hi int) (net.Listener, error) {
	var lastErr error
	for p := lo; p <= hi; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
		if err == nil {
			return ln, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no free port in %d..%d: %w", lo, hi, lastErr)
}

func stopHTTP(ctx context.Context, s *state) error {
	if s.httpSrv == nil {
		return nil
	}
	err := s.httpSrv.Shutdown(ctx)
	s.httpSrv = nil
	return err
}

// startQemu picks the accelerator and a host port, builds the command line
// and starts qemu. If qemu cannot bind the port (another program took it
// in between), it tries another.
func (b *Builder) startQemu(ctx context.Context, s *state) error {
	accel, note, err := chooseAccel(b.cfg.Accelerator, b.getenv)
	if err != nil {
		return err
	}
	if note != "" {
		s.ui.Say(note)
	}
	s.accel = accel
	if err := b.cfg.checkCPUModel(accel); err != nil {
		return err
	}
	if b.cfg.SkipNatMapping {
		return b.startQemuNoNAT(ctx, s)
	}
	tried := map[int]bool{}
	for attempt := 1; ; attempt++ {
		port, err := b.ports.Take(b.cfg.HostPortMin, b.cfg.HostPortMax, tried)
		if err != nil {
			return fmt.Errorf("host port for SSH: %w", err)
		}
		tried[port.Port] = true
		s.port = port
		argv, err := b.qemuArgs(s)
		if err != nil {
			return err
		}
		os.Remove(s.console)
		qmp := filepath.Join(s.tmpDir, "qmp.sock")
		os.Remove(qmp)
		s.ui.Say(fmt.Sprintf("starting %s (%s, %d MiB, %d CPU, SSH forwarded from 127.0.0.1:%d)",
			b.cfg.QemuBinary, accel, b.cfg.Memory, b.cfg.CPUs, port.Port))
		port.Unlisten()
		s.vm, err = startVM(ctx, b.cfg.QemuBinary, argv, qmp)
		if err == nil {
			return nil
		}
		if s.vm != nil && s.vm.hasExited() && strings.Contains(s.vm.output.String(), "host forwarding") && attempt < hostfwdRetries {
			s.ui.Say(fmt.Sprintf("port %d was taken meanwhile; trying another", port.Port))
			s.vm = nil
			port.Release()
			s.port = nil
			continue
		}
		return err
	}
}

// qemuArgs is the qemu command line: bake's defaults with the template's
// qemuargs merged in (see mergeArgs).
func (b *Builder) qemuArgs(s *state) ([]string, error) {
	c := b.cfg
	d := []qemuArg{
		{"-name", "bake-" + b.runID + "-" + strings.ReplaceAll(b.name, ",", "_")},
		{"-machine", c.machineValue()},
		{"-accel", s.accel},
	}
	d = append(d, b.hardwareArgs(s, s.accel)...)
	d = append(d, b.diskArgs(s)...)
	if !c.DiskImage {
		d = append(d, qemuArg{"-drive", "file=" + escapeOpt(s.base) + ",media=cdrom,readonly=on"}, qemuArg{"-boot", "once=d"})
	}
	if s.seed != "" {
		d = append(d, qemuArg{"-drive", "file=" + escapeOpt(s.seed) + ",media=cdrom,readonly=on"})
	}
	if s.media.floppy != "" {
		d = append(d, qemuArg{"-drive", "file=" + escapeOpt(s.media.floppy) + ",if=floppy,index=0,format=raw"})
	}
	guestPort := c.Port
	if guestPort == 0 {
		guestPort = communicator.DefaultSSHPort
	}
	netdev := "user,id=" + netID
	hostPort := 0
	if s.port != nil { // else skip_nat_mapping
		hostPort = s.port.Port
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", hostPort, guestPort)
	}
	nic := c.NetDevice
	if nic == "virtio" {
		nic = "virtio-net-pci"
	}
	d = append(d,
		qemuArg{"-netdev", netdev},
		qemuArg{"-device", nic + ",netdev=" + netID},
		qemuArg{"-serial", "file:" + s.console},
		qemuArg{"-qmp", "unix:" + filepath.Join(s.tmpDir, "qmp.sock") + ",server=on,wait=off"},
	)
	user, err := interpolate(c.QemuArgs, argValues{
		HTTPIP: GuestHostIP, HTTPPort: s.httpPort, SSHHostPort: hostPort,
		OutputDir: s.outDir, Name: c.VMName,
	}, s.work)
	if err != nil {
		return nil, err
	}
	return flatten(mergeArgs(d, user, s.work)), nil
}

// escapeOpt escapes commas in a qemu option value.
func escapeOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// stopQemu stops qemu if it still runs (a failed or cancelled build) and
// gives the port back.
func stopQemu(ctx context.Context, s *state) error {
	if s.vm != nil {
		if !s.vm.hasExited() {
			s.ui.Say("stopping qemu")
		}
		s.vm.stop(ctx)
		s.vm = nil
	}
	s.port.Release()
	s.port = nil
	return nil
}

func leftQemu(s *state) string {
	if s.vm == nil || s.vm.hasExited() {
		return ""
	}
	pid := s.vm.cmd.Process.Pid
	return fmt.Sprintf("qemu process %d (kill %d)", pid, pid)
}

// sshAddr is where the communicator connects: ssh_host:ssh_port when the
// template names a host, else the forwarded port on loopback.
func (b *Builder) sshAddr(s *state) (string, int) {
	if b.cfg.Host != "" {
		return b.cfg.Host, b.cfg.Port
	}
	return "127.0.0.1", s.port.Port
}

// waitSSH waits boot_wait (unless a boot command was typed after it), then until the guest's SSH server answers
// (within ssh_timeout) and logs in. Until the guest's sshd is up, qemu's
// port forwarding accepts each connection and then closes it, which to an
// SSH client looks like a failed handshake; so bake first waits for the
// server's banner, and then logs in on the connection that brought it
// (unless pause_before_connecting asks for a pause first): a second
// connection would make the guest's sshd fork and start a session process
// once more, about a second under TCG. When the wait fails, the error
// names the last cause and ends with the tail of the guest's serial
// console.
func (b *Builder) waitSSH(ctx context.Context, s *state) error {
	c := b.cfg.Config
	if len(b.cfg.bootSteps()) == 0 { // else boot_wait came before the boot command
		if err := b.sleep(ctx, s, b.cfg.BootWait); err != nil {
			return err
		}
	}
	host, port := b.sshAddr(s)
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	start := time.Now()
	deadline := start.Add(c.Timeout)
	s.ui.Say(fmt.Sprintf("waiting for SSH on %s (ssh_timeout %s)", addr, c.Timeout))
	var probed net.Conn // the connection that brought the banner
	if c.BastionHost == "" {
		var last error
		for {
			if s.vm.hasExited() {
				return b.withConsole(s, s.vm.exitError("qemu exited before SSH was available"))
			}
			actx, cancel := context.WithDeadline(ctx, deadline)
			probed, last = probeBanner(actx, addr, b.guestPort())
			cancel()
			if last == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("wait for SSH on %s: %w", addr, context.Cause(ctx))
			}
			if time.Now().After(deadline) {
				return b.withConsole(s, fmt.Errorf("no SSH on %s after %s: last cause: %w", addr, c.Timeout, last))
			}
			select {
			case <-ctx.Done():
			case <-s.vm.exited:
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	if probed != nil && c.PauseBeforeConnecting > 0 {
		// The pause is there for a guest that may still restart sshd
		// or reboot: log in on a new connection after it.
		probed.Close()
		probed = nil
	}
	if err := b.sleep(ctx, s, c.PauseBeforeConnecting); err != nil {
		return err
	}
	cfg, err := b.cfg.SSHConfig.Client(host, port, s.privateKey)
	cfg.Timeout = max(time.Until(deadline), 10*time.Second)
	if err != nil {
		if probed != nil {
			probed.Close()
		}
		return err
	}
	if probed != nil {
		cfg.Dial = handOver(probed)
	}
	comm, err := ssh.Connect(ctx, cfg, nil)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return b.withConsole(s, err)
	}
	s.comm = comm
	s.ui.Say(fmt.Sprintf("connected over SSH as %s after %s", c.Username, time.Since(start).Round(100*time.Millisecond)))
	return nil
}

func (b *Builder) guestPort() int {
	if b.cfg.Host != "" || b.cfg.Port == 0 {
		return communicator.DefaultSSHPort
	}
	return b.cfg.Port
}

// sleep waits d, failing early when ctx ends or qemu exits.
func (b *Builder) sleep(ctx context.Context, s *state, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-s.vm.exited:
		return b.withConsole(s, s.vm.exitError("qemu exited during boot_wait"))
	}
}

// withConsole appends the tail of the guest's serial console to err.
func (b *Builder) withConsole(s *state, err error) error {
	return fmt.Errorf("%w\nguest serial console (last 25 lines):\n%s", err, consoleTail(s.console, 25))
}

// probeBanner connects to addr and reads the SSH server's banner. On
// success it returns the connection, which replays what was read.
func probeBanner(ctx context.Context, addr string, guestPort int) (net.Conn, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	dl := time.Now().Add(10 * time.Second)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	wait := time.Until(dl).Round(time.Second)
	conn.SetReadDeadline(dl)
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(conn, buf, 4)
	if n >= 4 && string(buf[:4]) == "SSH-" {
		if err := conn.SetReadDeadline(time.Time{}); err != nil {
			conn.Close()
			return nil, err
		}
		return &primedConn{Conn: conn, head: buf[:n]}, nil
	}
	conn.Close()
	switch {
	case n > 0:
		return nil, fmt.Errorf("port %d answered %q, not an SSH banner", guestPort, buf[:n])
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err):
		return nil, fmt.Errorf("the connection was closed before the SSH banner: nothing listens on the guest's port %d yet (guest still booting, sshd not started, or no network)", guestPort)
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("no SSH banner within %s: the guest does not answer on port %d (still booting, or its network is not up)", wait, guestPort)
		}
		return nil, err
	}
}

// primedConn is a connection whose first bytes were already read; Read
// returns them before reading on.
type primedConn struct {
	net.Conn
	head []byte
}

func (c *primedConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handOver returns an ssh.Config Dial that returns conn on its first call
// and dials anew on later ones (a failed first handshake, a reconnect).
func handOver(conn net.Conn) func(context.Context, string) (net.Conn, error) {
	var mu sync.Mutex
	return func(ctx context.Context, addr string) (net.Conn, error) {
		mu.Lock()
		c := conn
		conn = nil
		mu.Unlock()
		if c != nil {
			return c, nil
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func closeComm(_ context.Context, s *state) error {
	if s.comm != nil {
		s.comm.Close()
		s.comm = nil
	}
	return nil
}

// provision hands the machine to the provisioners.
func (b *Builder) provision(ctx context.Context, s *state, hook builder.Hook) error {
	if hook == nil {
		return nil
	}
	info := b.info(s)
	if s.comm == nil {
		return hook(ctx, nil, info)
	}
	return hook(ctx, s.comm, info)
}

// info is what the build tells its provisioners about itself.
func (b *Builder) info(s *state) provisioners.BuildInfo {
	info := b.opts.BuildInfo("qemu")
	if b.cfg.Type == communicator.SSH {
		info.Host, info.Port = b.sshAddr(s)
		info.User = b.cfg.Username
		info.Password = b.cfg.Password
		info.SSHPrivateKey = string(s.privateKey)
		if s.key != nil {
			info.SSHPublicKey = string(s.key.AuthorizedKey)
		}
	}
	return info
}

// shutdown stops the guest gracefully: shutdown_command through the
// communicator (a lost connection is expected), or without one an ACPI
// power-button press through qemu's monitor; then it waits up to
// shutdown_timeout for qemu to exit. Only then does it stop qemu by force,
// with a warning. A running guest is never killed first.
func (b *Builder) shutdown(ctx context.Context, s *state) error {
	timeout := b.cfg.ShutdownTimeout
	if cmd := b.cfg.ShutdownCommand; cmd != "" && s.comm != nil {
		s.ui.Say("shutting the guest down with shutdown_command")
		status, err := s.comm.Run(ctx, &provisioners.Cmd{Command: cmd, Stdout: s.ui.Stdout(), Stderr: s.ui.Stderr()})
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("shutdown_command: %w", context.Cause(ctx))
		case err != nil && !errors.Is(err, provisioners.ErrDisconnected):
			s.ui.Error(fmt.Sprintf("shutdown_command: %v; waiting for qemu to exit all the same", err))
		case err == nil && status != 0:
			s.ui.Error(fmt.Sprintf("shutdown_command exited with status %d; waiting for qemu to exit all the same", status))
		}
		closeComm(ctx, s)
	} else {
		if b.cfg.ShutdownCommand != "" {
			s.ui.Error("shutdown_command needs a communicator; pressing the power button instead")
		}
		closeComm(ctx, s)
		s.ui.Say("shutting the guest down with an ACPI power-button press (no shutdown_command)")
		if err := qmpExecute(ctx, s.vm.qmp, "system_powerdown"); err != nil && !s.vm.hasExited() {
			s.ui.Error(fmt.Sprintf("power-button press: %v", err))
		}
	}
	t0 := time.Now()
	if s.vm.wait(ctx, timeout) {
		s.ui.Say(fmt.Sprintf("qemu exited %s after the shutdown request", time.Since(t0).Round(100*time.Millisecond)))
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("wait for qemu to exit: %w", context.Cause(ctx))
	}
	s.ui.Error(fmt.Sprintf("qemu did not exit within %s (shutdown_timeout) of the shutdown request: stopping it by force; "+
		"the guest may not have written everything to its disk", timeout))
	s.vm.stop(ctx)
	return nil
}

// convert turns the working disk into output_directory/vm_name once qemu
// has exited: qemu-img convert to the output format (compressed with
// disk_compression; an overlay on the base with use_backing_file), or a
// plain rename with skip_compaction. The output is then hashed, while its
// blocks are still in the page cache.
func (b *Builder) convert(ctx context.Context, s *state) error {
	if s.vm != nil && !s.vm.hasExited() {
		return errors.New("internal error: converting the disk while qemu runs")
	}
	out := filepath.Join(s.outDir, b.cfg.VMName)
	t0 := time.Now()
	done := false
	if s.pre != nil {
		var err error
		if done, err = b.finishPrecompress(ctx, s, out); err != nil {
			return err
		}
	}
	switch {
	case done:
	case b.cfg.SkipCompaction:
		if err := os.Rename(s.work, out); err != nil {
			return fmt.Errorf("move disk into place: %w", err)
		}
		s.work = ""
	default:
		part := filepath.Join(s.outDir, "."+b.cfg.VMName+"."+b.runID+".part")
		opts := []string{"-f", b.workFormat(s), "-O", b.cfg.Format}
		opts = append(opts, b.cfg.compressOpts()...)
		opts = append(opts, b.cfg.parallelOpts()...)
		if b.cfg.UseBackingFile {
			opts = append(opts, "-B", s.base, "-F", s.baseInfo.Format)
		}
		args := b.cfg.imgArgs("convert", opts, s.work, part)
		how := ""
		if c := b.cfg.compressOpts(); c != nil {
			how = ", compressed (" + map[bool]string{true: "zstd", false: "zlib"}[b.cfg.CompressionType == "zstd"] + ")"
		}
		s.ui.Say(fmt.Sprintf("converting the disk to %s%s: %s", b.cfg.Format, how, "qemu-img "+strings.Join(args, " ")))
		stop := b.progress(s, "converting the disk", t0)
		_, err := qemuImg(ctx, args...)
		stop()
		if err != nil {
			os.Remove(part)
			return fmt.Errorf("convert disk: %w", err)
		}
		if err := os.Rename(part, out); err != nil {
			os.Remove(part)
			return fmt.Errorf("move disk into place: %w", err)
		}
	}
	// Hashed once, here, while the blocks are in the page cache; the run
	// manifest and a sha256 checksum post-processor reuse the digest
	// while the file stays unchanged (artifacts.HashAndRemember).
	th := time.Now()
	sum, size, err := artifacts.HashAndRemember(out, nil)
	if err != nil {
		return err
	}
	s.ui.Say(fmt.Sprintf("wrote %s (%d MiB, sha256 %s) in %s (hashing %s)", out, size>>20, sum[:16],
		time.Since(t0).Round(100*time.Millisecond), time.Since(th).Round(100*time.Millisecond)))
	if s.baseDigest != nil {
		if s.baseSHA256, err = s.baseDigest.wait(ctx); err != nil {
			return fmt.Errorf("hash the base disk %s: %w", s.base, err)
		}
		s.baseDigest = nil
	}
	s.art = b.diskArtifact(s, out, sum, size)
	return b.convertAdditional(ctx, s)
}

// diskArtifact is the artifact of the output disk out, whose sha256 (hex)
// and size are known: converted by this build or copied from the cache.
func (b *Builder) diskArtifact(s *state, out, sum string, size int64) *artifacts.Artifact {
	state := map[string]string{"format": b.cfg.Format, "accelerator": s.accel, "output_directory": s.outDir}
	if b.cfg.UseBackingFile {
		state["backing_file"] = s.base
	}
	art := &artifacts.Artifact{
		Builder: "qemu",
		Build:   b.name,
		ID:      out,
		Files:   []string{out},
		Items: []artifacts.Item{{
			ExternalIdentifier: out,
			Digest:             "sha256:" + sum,
			Size:               size,
			Format:             b.cfg.Format,
			Path:               out,
		}},
		Parent: &artifacts.Parent{Ref: b.cfg.ISOURL, DiskPath: s.base, DiskSHA256: s.baseSHA256},
		State:  state,
		Destroy: func(context.Context) error {
			if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			os.Remove(filepath.Dir(out)) // only when empty
			return nil
		},
	}
	if art.Parent.Ref == "" && len(b.cfg.ISOURLs) > 0 {
		art.Parent.Ref = b.cfg.ISOURLs[0]
	}
	return art
}

// progress says every 30s that a long wait goes on; the returned func
// stops it.
func (b *Builder) progress(s *state, what string, t0 time.Time) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.ui.Say(fmt.Sprintf("%s: %s", what, time.Since(t0).Round(time.Second)))
			}
		}
	}()
	return func() { close(done) }
}
