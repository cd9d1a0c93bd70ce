package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/gc"
	"github.com/bake-tool/bake/provisioners"
)

// debugKeyFile is the file name Packer's -debug gives a build's temporary
// SSH key in the working directory: ec2_NAME.pem for amazon-ebs, NAME.pem
// for qemu, TYPE_NAME.pem for another kind; NAME is the source's name.
func debugKeyFile(typ, name string) string {
	name = unsafeName.ReplaceAllString(name, "_")
	switch typ {
	case "amazon-ebs":
		return "ec2_" + name + ".pem"
	case "qemu":
		return name + ".pem"
	}
	return unsafeName.ReplaceAllString(typ, "_") + "_" + name + ".pem"
}

// debugKeys keeps each build's temporary SSH key in dir under -debug, as
// Packer does, so the user can log in while a build is paused; each key
// file is readable by its owner only and removed when its build ends. The
// run's journal records it meanwhile, so that bake gc removes a key that a
// killed bake left behind.
type debugKeys struct {
	dir     string
	emit    func(engine.Event)
	journal gc.Journal // its zero value records nothing
	runID   string
}

// keep writes info's private key and returns its removal.
func (d *debugKeys) keep(build string, info provisioners.BuildInfo) func() {
	name := info.SourceName
	if name == "" {
		name = strings.TrimPrefix(build, info.Type+".")
	}
	p := filepath.Join(d.dir, debugKeyFile(info.Type, name))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Not ours to overwrite: a file of the same name in another one.
		base := strings.TrimSuffix(filepath.Base(p), ".pem")
		f, err = os.CreateTemp(d.dir, base+"-*.pem")
	}
	say := func(stream, msg string) {
		d.emit(engine.Event{Type: engine.EventMessage, Build: build, Stream: stream, Message: msg})
	}
	if err != nil {
		say("stderr", fmt.Sprintf("debug: could not keep the temporary SSH key: %v", err))
		return func() {}
	}
	p = f.Name()
	_, werr := f.WriteString(info.SSHPrivateKey)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(p)
		say("stderr", fmt.Sprintf("debug: could not keep the temporary SSH key: %v", werr))
		return func() {}
	}
	abs, _ := filepath.Abs(p)
	if err := d.journal.Add(d.runID, gc.Place{Kind: "debug SSH key", Path: abs, Build: build}); err != nil {
		say("stderr", fmt.Sprintf("debug: the run journal does not know the key file (bake gc will not find it after a crash): %v", err))
	}
	shown := p
	if rel, err := filepath.Rel(d.dir, p); err == nil && d.dir == "." {
		shown = rel
	}
	login := ""
	if info.Host != "" {
		login = fmt.Sprintf("; log in with: ssh -i %s -p %d %s@%s", shown, info.Port, info.User, info.Host)
	}
	say("", fmt.Sprintf("debug: the temporary SSH key is kept in %s (mode 0600) until the build ends%s", shown, login))
	return func() {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			say("stderr", fmt.Sprintf("debug: could not remove the temporary SSH key %s: %v", shown, err))
			return
		}
		d.journal.Release(d.runID, abs)
		say("", "debug: removed the temporary SSH key "+shown)
	}
}
