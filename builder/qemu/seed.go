package qemu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// seedFiles gathers what goes on the CD: cd_files (paths or globs; a
// directory is copied with its name, or only its contents when the path
// ends in "/"), then cd_content (name → text; names may contain "/"),
// into dir. It returns the names at the top of the CD.
func seedFiles(dir string, files []string, content map[string]string) ([]string, error) {
	for _, pat := range files {
		matches := []string{pat}
		if strings.ContainsAny(pat, "*?[") {
			m, err := filepath.Glob(pat)
			if err != nil {
				return nil, fmt.Errorf("cd_files %q: %w", pat, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("cd_files %q matches no file", pat)
			}
			matches = m
		}
		for _, src := range matches {
			fi, err := os.Stat(src)
			if err != nil {
				return nil, fmt.Errorf("cd_files: %w", err)
			}
			dst := filepath.Join(dir, filepath.Base(src))
			if fi.IsDir() && strings.HasSuffix(src, "/") {
				dst = dir
			}
			if fi.IsDir() {
				err = os.CopyFS(dst, os.DirFS(src))
			} else {
				err = copyFile(dst, src, fi.Mode().Perm())
			}
			if err != nil {
				return nil, fmt.Errorf("cd_files %q: %w", src, err)
			}
		}
	}
	names := make([]string, 0, len(content))
	for n := range content {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		clean := filepath.Clean("/" + n)[1:]
		if clean == "" {
			return nil, fmt.Errorf("cd_content: %q is not a file name", n)
		}
		p := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("cd_content %q: %w", n, err)
		}
		if err := os.WriteFile(p, []byte(content[n]), 0o644); err != nil {
			return nil, fmt.Errorf("cd_content %q: %w", n, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var top []string
	for _, e := range ents {
		top = append(top, e.Name())
	}
	return top, nil
}

func copyFile(dst, src string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// userData is the cloud-config that carries the build's temporary public
// key to user: cloud-init (and the fixture's stand-in) installs it in the
// user's authorized_keys, creating the user if needed. For a user other
// than root it also grants passwordless sudo, as cloud images do for
// their default user, so provisioners can use sudo as in Packer templates.
func userData(user, authorizedKey string) string {
	key := strings.TrimSpace(authorizedKey)
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	b.WriteString("# Written by bake: the build's temporary SSH key.\n")
	if user == "root" {
		b.WriteString("disable_root: false\n")
	}
	b.WriteString("users:\n")
	b.WriteString("  - default\n")
	fmt.Fprintf(&b, "  - name: %s\n", user)
	b.WriteString("    ssh_authorized_keys:\n")
	fmt.Fprintf(&b, "      - %s\n", key)
	if user != "root" {
		b.WriteString("    sudo: ALL=(ALL) NOPASSWD:ALL\n")
		b.WriteString("    shell: /bin/bash\n")
	}
	return b.String()
}

// metaData is the NoCloud meta-data: a new instance id per build, so that
// cloud-init runs its once-per-instance modules (the key) on this boot.
func metaData(instanceID string) string {
	return "instance-id: " + instanceID + "\nlocal-hostname: bake\n"
}

// isoTools are the programs that can write an ISO 9660 image, in the
// order bake tries them; each takes mkisofs's options.
var isoTools = [][]string{
	{"xorriso", "-as", "mkisofs"},
	{"genisoimage"},
	{"mkisofs"},
}

// isoAttempts is how many times makeISO runs a tool that crashed.
const isoAttempts = 3

// makeISO writes the directory dir to an ISO 9660 image with Joliet and
// Rock Ridge names (so "user-data" keeps its name) labelled label. A tool
// that crashed (killed by a signal, or xorriso reporting one it caught:
// CI saw xorriso 1.5.4 die of SIGSEGV once on this small input, and never
// again in 900 runs) is run again; the image is written anew each time.
func makeISO(ctx context.Context, out, label, dir string) error {
	for _, tool := range isoTools {
		path, err := exec.LookPath(tool[0])
		if err != nil {
			continue
		}
		args := append(append([]string{}, tool[1:]...), "-quiet", "-o", out, "-V", label, "-J", "-r", dir)
		for attempt := 1; ; attempt++ {
			cmd := exec.CommandContext(ctx, path, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				return nil
			}
			crashed := strings.Contains(stderr.String(), "UNIX-SIGNAL") ||
				(cmd.ProcessState != nil && !cmd.ProcessState.Exited())
			if !crashed || attempt == isoAttempts || ctx.Err() != nil {
				return fmt.Errorf("%s: %w: %s", tool[0], err, strings.TrimSpace(stderr.String()))
			}
		}
	}
	return fmt.Errorf("no program to write the CD image: install xorriso (or genisoimage); scripts/setup.sh does")
}
