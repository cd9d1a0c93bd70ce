package shell

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bake-tool/bake/cache"
)

var _ cache.Keyer = (*Provisioner)(nil)

// CacheKey adds what shapes the machine: the inline commands, the
// contents and mode of each script file, every environment variable (its
// value only as a sha256, so a sensitive value is never kept), and the
// options that change how the scripts run or what they leave behind
// (execute_command, env_var_format, use_env_var_file, inline_shebang,
// binary, remote_folder/remote_file/remote_path, expect_disconnect,
// valid_exit_codes, skip_clean). start_retry_timeout and pause_after
// only time the step and are left out.
func (p *Provisioner) CacheKey(h *cache.Hasher) error {
	c := p.cfg
	h.Strings("inline", c.Inline)
	scripts := c.Scripts
	if c.Script != "" {
		scripts = append([]string{c.Script}, scripts...)
	}
	h.String("scripts", fmt.Sprint(len(scripts)))
	for i, s := range scripts {
		h.String(fmt.Sprintf("script[%d].name", i), filepath.Base(s))
		h.File(fmt.Sprintf("script[%d]", i), s)
	}
	hashEnv(h, c.EnvironmentVars, c.Env)
	h.String("env_var_format", c.EnvVarFormat)
	h.Value("use_env_var_file", c.UseEnvVarFile)
	h.String("execute_command", c.ExecuteCommand)
	h.String("inline_shebang", c.InlineShebang)
	h.Value("binary", c.Binary)
	h.String("remote_folder", c.RemoteFolder)
	h.String("remote_file", c.RemoteFile)
	h.String("remote_path", c.RemotePath)
	h.Value("expect_disconnect", c.ExpectDisconnect)
	h.Value("valid_exit_codes", c.ValidExitCodes)
	h.Value("skip_clean", c.SkipClean)
	return nil
}

// hashEnv adds environment_vars in order and env in name order, each
// value as its sha256.
func hashEnv(h *cache.Hasher, vars []string, env map[string]string) {
	h.String("environment_vars", fmt.Sprint(len(vars)))
	for i, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		h.Secret(fmt.Sprintf("environment_vars[%d].%s", i, k), v)
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	h.String("env", fmt.Sprint(len(names)))
	for _, k := range names {
		h.Secret("env."+k, env[k])
	}
}
