package qemu

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// createFloppy writes the floppy image from floppy_files, floppy_dirs and
// floppy_content into the build's temporary directory, which removeTemp
// removes on every path.
func (b *Builder) createFloppy(ctx context.Context, s *state) error {
	m := &b.cfg.Media
	if !m.hasFloppy() {
		return nil
	}
	img := filepath.Join(s.tmpDir, "floppy-"+b.runID+".img")
	if err := makeFloppy(ctx, img, m.FloppyLabel, filepath.Join(s.tmpDir, "floppy"), m.FloppyFiles, m.FloppyDirs, m.FloppyContent); err != nil {
		return fmt.Errorf("create floppy: %w", err)
	}
	s.media.floppy = img
	s.ui.Say(fmt.Sprintf("made a 1.44 MB floppy labelled %q", m.FloppyLabel))
	return nil
}

// makeFloppy gathers the floppy's files in stage (a directory it creates)
// as Packer lays them out, then writes a FAT12 1.44 MB image to out with
// mkfs.fat and copies them in with mtools' mcopy: no mount, no root.
func makeFloppy(ctx context.Context, out, label, stage string, files, dirs []string, content map[string]string) error {
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return err
	}
	for _, pat := range files {
		paths, err := expandFloppyPath(pat)
		if err != nil {
			return fmt.Errorf("floppy_files: %w", err)
		}
		for _, p := range paths {
			// Flat: a file goes to the root, and so does every file
			// under a directory.
			err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				fi, err := os.Stat(path)
				if err != nil {
					return err
				}
				return copyFile(filepath.Join(stage, d.Name()), path, fi.Mode().Perm()|0o600)
			})
			if err != nil {
				return fmt.Errorf("floppy_files %q: %w", p, err)
			}
		}
	}
	for _, pat := range dirs {
		paths, err := expandFloppyPath(pat)
		if err != nil {
			return fmt.Errorf("floppy_dirs: %w", err)
		}
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("floppy_dirs: %w", err)
			}
			dst := filepath.Join(stage, filepath.Base(filepath.Clean(p)))
			if fi.IsDir() {
				err = os.CopyFS(dst, os.DirFS(p))
			} else {
				err = copyFile(dst, p, fi.Mode().Perm()|0o600)
			}
			if err != nil {
				return fmt.Errorf("floppy_dirs %q: %w", p, err)
			}
		}
	}
	names := make([]string, 0, len(content))
	for n := range content {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		clean := floppyName(n)
		if clean == "" {
			return fmt.Errorf("floppy_content: %q is not a file name", n)
		}
		p := filepath.Join(stage, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("floppy_content %q: %w", n, err)
		}
		// floppy_content wins over a file of the same name.
		os.Remove(p)
		if err := os.WriteFile(p, []byte(content[n]), 0o644); err != nil {
			return fmt.Errorf("floppy_content %q: %w", n, err)
		}
	}

	if err := runTool(ctx, "mkfs.fat", "dosfstools", "-C", "-n", label, out, fmt.Sprint(floppyBytes>>10)); err != nil {
		os.Remove(out)
		return err
	}
	ents, err := os.ReadDir(stage)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	args := []string{"-i", out, "-s", "-Q", "-m"}
	for _, e := range ents {
		args = append(args, filepath.Join(stage, e.Name()))
	}
	args = append(args, "::/")
	if err := runTool(ctx, "mcopy", "mtools", args...); err != nil {
		if strings.Contains(err.Error(), "full") {
			return fmt.Errorf("the files do not fit on a 1.44 MB floppy: %w", err)
		}
		return err
	}
	return nil
}

// runTool runs a host program, naming its Debian package when it is
// missing, and returns its stderr in the error.
func runTool(ctx context.Context, name, pkg string, args ...string) error {
	path, err := exec.LookPath(name)
	if err != nil {
		// mkfs.fat lives in /usr/sbin, which a user's PATH may lack.
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if p := filepath.Join(dir, name); fileExists(p) {
				path, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s is not installed (Debian: %s; scripts/setup.sh installs it): %w", name, pkg, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
