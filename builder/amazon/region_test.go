package amazon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/configtest"
)

// noAWSEnvironment makes the AWS chain name no region for this test,
// whatever the machine's environment and ~/.aws hold.
func noAWSEnvironment(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
}

const noRegion = `ami_name = "bake-test"
instance_type = "t3.micro"
source_ami = "ami-0123456789abcdef0"
ssh_username = "admin"
`

// TestRegionFromAWSChain: amazon-ebs without region builds where the AWS
// environment and shared config say, as the amazon-ami data source does.
func TestRegionFromAWSChain(t *testing.T) {
	for _, tc := range []struct {
		name, env, val, config, profile, block, want string
	}{
		{name: "AWS_REGION", env: "AWS_REGION", val: "eu-north-1", want: "eu-north-1"},
		{name: "AWS_DEFAULT_REGION", env: "AWS_DEFAULT_REGION", val: "ap-south-1", want: "ap-south-1"},
		{name: "shared config", config: "[default]\nregion = sa-east-1\n", want: "sa-east-1"},
		{name: "profile in block", config: "[default]\nregion = sa-east-1\n[profile ci]\nregion = ca-central-1\n", block: "profile = \"ci\"\n", want: "ca-central-1"},
		{name: "AWS_PROFILE", config: "[profile ci]\nregion = ca-central-1\n", env: "AWS_PROFILE", val: "ci", want: "ca-central-1"},
		{name: "block wins", env: "AWS_REGION", val: "eu-north-1", block: "region = \"us-west-2\"\n", want: "us-west-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noAWSEnvironment(t)
			if tc.env != "" {
				t.Setenv(tc.env, tc.val)
			}
			if tc.config != "" {
				if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var c Config
			configtest.MustPrepare(t, "amazon-ebs", tc.block+noRegion, &c)
			if c.Region != tc.want {
				t.Errorf("region %q, want %q", c.Region, tc.want)
			}
		})
	}

	t.Run("none", func(t *testing.T) {
		noAWSEnvironment(t)
		var c Config
		_, diags := configtest.Decode(t, "amazon-ebs", noRegion, &c)
		if !diags.HasErrors() || !containsDetail(diags.Errs(), "AWS_REGION, AWS_DEFAULT_REGION") {
			t.Errorf("no region anywhere: %v", diags)
		}
	})
}

func containsDetail(errs []error, s string) bool {
	for _, e := range errs {
		if e != nil && strings.Contains(e.Error(), s) {
			return true
		}
	}
	return false
}

// TestSourceAMIShape: source_ami is not format-checked beyond Packer's
// check (set, not empty): EC2 judges the id.
func TestSourceAMIShape(t *testing.T) {
	for _, id := range []string{"ami-01234567", "ami-0123456789abcdef0", "ami-ABCDEF12", "ami-12345678901234567890"} {
		var c Config
		configtest.MustPrepare(t, "amazon-ebs", `region = "us-east-1"
ami_name = "bake-test"
instance_type = "t3.micro"
ssh_username = "admin"
source_ami = "`+id+`"
`, &c)
		if c.SourceAMI != id {
			t.Errorf("source_ami %q became %q", id, c.SourceAMI)
		}
	}
}

// TestRegionFromChainInAMIRegions: the build region taken from the AWS
// environment is not copied into again when ami_regions lists it.
func TestRegionFromChainInAMIRegions(t *testing.T) {
	noAWSEnvironment(t)
	t.Setenv("AWS_REGION", "eu-west-1")
	var c Config
	_, diags := configtest.Decode(t, "amazon-ebs", noRegion+`ami_regions = ["eu-west-1", "us-west-2"]`+"\n", &c)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(c.AMIRegions) != 1 || c.AMIRegions[0] != "us-west-2" {
		t.Errorf("ami_regions %v, want [us-west-2]", c.AMIRegions)
	}
}
