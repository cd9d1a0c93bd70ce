package provisioners

import (
	"context"
	"errors"
	"io"
	"io/fs"

	"github.com/bake-tool/bake/ui"
)

// Cmd is one command run on a machine through a Communicator.
type Cmd struct {
	// Command is a shell command line; the communicator runs it with the
	// guest's /bin/sh -c (or the exec equivalent).
	Command string
	// Stdin, Stdout and Stderr may be nil. Output is written as the guest
	// produces it, never buffered to the end of the command.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// CommandVar is the environment variable through which a communicator
// that runs commands on this host's kernel (the docker exec communicator,
// shell-local) hands a command line to the shell that runs it; see
// EvalCommand.
const CommandVar = "BAKE_EXEC_COMMAND"

// EvalCommand is a shell script that runs the command line held in the
// environment variable CommandVar, after taking the variable out of the
// environment its commands inherit. "sh -c EvalCommand" with
// CommandVar=line in its environment does what "sh -c line" does, except
// that line is on no process's argument list: a command line carries the
// values of environment_vars ("KEY='value' script"), and every user of the
// host can read every process's arguments (ps), while a process's
// environment is readable only by its owner.
const EvalCommand = `__bake_command=$` + CommandVar + `; unset ` + CommandVar + `; eval "$__bake_command"`

// ErrDisconnected is returned (wrapped) by Communicator.Run when the
// connection to the machine was lost while the command ran, so that callers
// such as the shell provisioner's expect_disconnect can tell it apart from a
// command that failed.
var ErrDisconnected = errors.New("connection to the machine was lost")

// Communicator runs commands on, and moves files to and from, the machine a
// builder brought up.
//
// Contract: every method honours ctx (cancel stops the transfer or command
// and returns ctx.Err() wrapped); a Communicator is safe for use by one
// provisioner at a time; Close releases every connection and is idempotent.
type Communicator interface {
	// Run runs cmd and returns its exit status. err is non-nil only when the
	// command could not be run or its status is unknown (transport failure,
	// ErrDisconnected); a command that ran and failed returns its status and
	// a nil error.
	Run(ctx context.Context, cmd *Cmd) (exitStatus int, err error)
	// Upload writes the content of src to the file dst on the machine. mode
	// is the file's permission bits (0 means 0644).
	Upload(ctx context.Context, dst string, src io.Reader, mode fs.FileMode) error
	// UploadDir copies the local directory src to dst on the machine. As with
	// rsync, when src ends in "/" its contents go into dst, otherwise the
	// directory itself is created inside dst.
	UploadDir(ctx context.Context, dst, src string) error
	// Download writes the content of the machine's file src to dst.
	Download(ctx context.Context, src string, dst io.Writer) error
	// DownloadDir copies the machine's directory src to the local directory
	// dst, with the same trailing-slash rule as UploadDir.
	DownloadDir(ctx context.Context, src, dst string) error
	// Close releases the communicator's connections.
	Close() error
}

// BuildInfo is what a running build knows about itself and its machine; the
// template sees it as the contextual values build.* and source.*.
type BuildInfo struct {
	RunID         string // the run's id, shared by all builds of one bake run
	ID            string // this build's unique id (build.ID)
	Name          string // "type.name" of the source
	BuildName     string // the build block's name
	Type          string // source type, e.g. "docker"
	SourceName    string // source name
	Host          string
	Port          int
	User          string
	Password      string
	SSHPublicKey  string
	SSHPrivateKey string
	// Force is -force: outputs that exist are replaced (post-processors
	// writing files read it). It names nothing in the machine and is in
	// no cache key.
	Force bool
}

// Provisioner changes a running machine: runs commands, moves files.
type Provisioner interface {
	// Provision runs against the machine behind comm. comm is nil when the
	// build has no communicator; a provisioner that needs one fails then.
	Provision(ctx context.Context, ui ui.UI, comm Communicator, info BuildInfo) error
}
