// Package shelllocal is the shell-local provisioner and post-processor:
// it runs commands or scripts on the machine bake runs on.
//
// Inline commands and command are written to a temporary script that
// starts with inline_shebang; every script runs through execute_command
// (default ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]) with the block's
// variables and the build's (PACKER_BUILD_NAME, PACKER_BUILDER_TYPE,
// BAKE_BUILD_NAME, BAKE_BUILD_TYPE, BAKE_RUN_ID) in its environment, and
// in the rendered command line ({{.Vars}}), which a shell's "-c" receives
// through the environment rather than its arguments, so that no value is
// shown by ps. Temporary scripts are named
// bake-shell-local-RUNID-* in the temporary directory, and BAKE_RUN_ID
// stays the run's id, so that what a killed bake left (files, processes)
// can be found by run id. Each runs in its own process group: cancelling
// the build sends the group SIGTERM, then SIGKILL after a grace period, so
// that nothing it started outlives Ctrl-C.
package shelllocal
