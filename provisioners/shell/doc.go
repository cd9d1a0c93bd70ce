// Package shell is the shell provisioner: it uploads scripts (inline
// commands or files) to the machine through its communicator and runs
// them, streaming their output line by line as the machine writes it.
//
// Each script is uploaded with mode 0755 to remote_path (by default
// remote_folder/remote_file, "/tmp/script_<random>.sh"), run with
// execute_command ({{.Path}}, {{.Vars}}, {{.EnvVarFile}}), and removed
// unless skip_clean is set. The environment (environment_vars, env and
// PACKER_BUILD_NAME/PACKER_BUILDER_TYPE) is passed on the command line as
// sorted, single-quoted KEY='value' pairs rather than as SSH environment
// requests, which sshd and docker exec may refuse; with use_env_var_file
// it is written to a file the command sources instead. Uploads and
// command starts are retried while the machine cannot be reached, up to
// start_retry_timeout; a connection lost while a script runs fails the
// step unless expect_disconnect is set.
package shell
