// Package shelllocal is the shell-local provisioner and post-processor:
// it runs commands or scripts on the machine bake runs on.
//
// Inline commands and command are written to a temporary script that
// starts with inline_shebang; every script runs through execute_command
// (default ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]) with the block's
// variables and the build's (PACKER_BUILD_NAME, PACKER_BUILDER_TYPE,
// BAKE_BUILD_NAME, BAKE_BUILD_TYPE, BAKE_RUN_ID) both on the command line
// and in the environment. Each runs in its own process group: cancelling
// the build sends the group SIGTERM, then SIGKILL after a grace period, so
// that nothing it started outlives Ctrl-C.
package shelllocal
