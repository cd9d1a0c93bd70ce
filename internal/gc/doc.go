// Package gc finds and removes what bake runs left behind: containers,
// images, qemu processes and directories, EC2 resources, temporary files and
// shell-local processes that a run killed with SIGKILL (or a power cut)
// never cleaned up.
//
// Every builder kind has one Finder that knows how to recognise its
// resources by the run id they carry (a container label, an EC2 tag, a file
// or process name); Sweep runs the finders, decides what may go (Filter:
// one run, a minimum age; never a run that is still going; an artifact only
// when its run crashed) and removes it. `bake gc` and the service's restart
// recovery both call Sweep.
//
// What a finder cannot see on the resource itself (a qemu output_directory
// anywhere on disk) is written to a per-run Journal under the state
// directory while the run goes; a run that ends normally marks its journal
// ended and removes it when nothing recorded in it remains.
package gc
