package amazon

import (
	"reflect"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

// base is a minimal valid amazon-ebs block; cases append to it, so their
// lines start at 6.
const base = `region = "us-east-1"
ami_name = "bake-test"
instance_type = "t3.micro"
source_ami = "ami-0123456789abcdef0"
ssh_username = "admin"
`

func TestPrepare(t *testing.T) {
	noAWSEnvironment(t)
	configtest.Run(t, "amazon-ebs", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "minimal", Src: base},
		{Name: "filter", Src: "region = \"eu-west-1\"\nami_name = \"a (b) [c] d/e-f'g@h_i.j\"\ninstance_type = \"t3.micro\"\nssh_username = \"admin\"\nsource_ami_filter {\n  filters = { name = \"debian-12-*\" }\n  owners = [\"136693071363\"]\n  most_recent = true\n}"},
		{Name: "legacy template name", Src: "region = \"eu-west-1\"\nami_name = \"packer {{timestamp}}\"\ninstance_type = \"t3.micro\"\nssh_username = \"admin\"\nsource_ami = \"ami-01234567\""},
		{Name: "source ami from data", Src: "region = \"eu-west-1\"\nami_name = \"x-y-z\"\ninstance_type = \"t3.micro\"\nssh_username = \"admin\"\nsource_ami = build.ID"},
		{Name: "copies encrypted", Src: base + "ami_regions = [\"eu-west-1\", \"us-west-2\"]\nencrypt_boot = true\nkms_key_id = \"alias/bake\"\nregion_kms_key_ids = {\n  \"eu-west-1\" = \"alias/a\"\n  \"us-west-2\" = \"alias/b\"\n}"},
		{Name: "devices", Src: base + "launch_block_device_mappings {\n  device_name = \"/dev/xvda\"\n  volume_size = 20\n  volume_type = \"gp3\"\n  iops = 4000\n  throughput = 250\n  delete_on_termination = true\n}"},
		{Name: "custom region", Src: "region = \"test-1\"\nskip_region_validation = true\nami_name = \"abc\"\ninstance_type = \"t3.micro\"\nsource_ami = \"ami-01234567\"\ncommunicator = \"none\""},
		{Src: "ami_name = \"abc\"\ninstance_type = \"t3.micro\"\nsource_ami = \"ami-01234567\"\nssh_username = \"u\"", Want: `needs the option "region"`},
		{Src: "region = \"us-east-1\"\ninstance_type = \"t3.micro\"\nsource_ami = \"ami-01234567\"\nssh_username = \"u\"", Want: `needs the option "ami_name"`},
		{Src: "region = \"us-east-1\"\nami_name = \"abc\"\nsource_ami = \"ami-01234567\"\nssh_username = \"u\"", Want: `needs exactly one of "instance_type", "spot_instance_types"`},
		{Src: "region = \"us-east-1\"\nami_name = \"abc\"\ninstance_type = \"t3.micro\"\nsource_ami = \"ami-01234567\"", Want: `needs the option "ssh_username"`},
		{Src: "region = \"us-east-1\"\nami_name = \"abc\"\ninstance_type = \"t3.micro\"\nssh_username = \"u\"", Want: `needs exactly one of "source_ami", "source_ami_filter"`},
		{Src: base + "source_ami_filter {\n  owners = [\"self\"]\n  filters = { name = \"x\" }\n}", Want: "Conflicting options", Line: 6},
		{Src: "region = \"us-east-1\"\nami_name = \"abc\"\ninstance_type = \"t3.micro\"\nssh_username = \"u\"\nsource_ami_filter {\n  filters = { name = \"x\" }\n}", Want: `needs "owners"`, Line: 5},
		{Src: "region = \"us-east-1\"\nami_name = \"abc\"\ninstance_type = \"t3.micro\"\nssh_username = \"u\"\nsource_ami_filter {\n  filters = {}\n  owners = [\"self\"]\n}", Want: `"filters" is empty`, Line: 6},
		{Src: "region = \"us-east-1\"\nami_name = \"ab\"\ninstance_type = \"t\"\nsource_ami = \"ami-01234567\"\nssh_username = \"u\"", Want: "3 to 128 characters long", Line: 2},
		{Src: "region = \"us-east-1\"\nami_name = \"my:ami*1\"\ninstance_type = \"t\"\nsource_ami = \"ami-01234567\"\nssh_username = \"u\"", Want: `contains ':', '*', which AMI names may not`, Line: 2},
		{Src: "region = \"us-east-I\"\nami_name = \"abc\"\ninstance_type = \"t\"\nsource_ami = \"ami-01234567\"\nssh_username = \"u\"", Want: `"us-east-I" is not an AWS region name`, Line: 1},
		{Src: "region = \"us-east-1\"\nami_name = \"abc\"\ninstance_type = \"t\"\nsource_ami = \"\"\nssh_username = \"u\"", Want: `"source_ami" is empty`, Line: 4},
		{Src: base + "access_key = \"AK\"", Want: `"secret_key" is missing`, Line: 6},
		{Src: base + "ami_regions = [\"eu-west-1\", \"eu-west-1\"]", Want: "is listed twice", Line: 6, Warning: true},
		{Src: base + "ami_regions = [\"eu-west-1\", \"nowhere\"]", Want: `"nowhere" is not an AWS region name`, Line: 6},
		{Src: base + "ami_users = [\"123456789012\", \"alice\"]", Want: `"alice" is not a 12-digit AWS account id`, Line: 6},
		{Src: base + "ami_groups = [\"everyone\"]", Want: `the only one is "all"`, Line: 6},
		{Src: base + "kms_key_id = \"alias/x\"", Want: "needs encrypt_boot = true", Line: 6},
		{Src: base + "encrypt_boot = true\nkms_key_id = \"my key\"", Want: `"my key" is not a KMS key id`, Line: 7},
		{Src: base + "ami_regions = [\"eu-west-1\"]\nencrypt_boot = true\nregion_kms_key_ids = {\n  \"eu-west-1\" = \"alias/a\"\n  \"ap-south-1\" = \"alias/b\"\n}", Want: `"ap-south-1" has a key in "region_kms_key_ids" but is not one of "ami_regions"`, Line: 10},
		{Src: base + "ami_regions = [\"eu-west-1\", \"eu-north-1\"]\nencrypt_boot = true\nregion_kms_key_ids = {\n  \"eu-west-1\" = \"alias/a\"\n}", Want: `"eu-north-1" has none`, Line: 6},
		{Src: base + "region_kms_key_ids = {}", Want: "needs encrypt_boot = true", Line: 6},
		{Src: base + "force_delete_snapshot = true", Want: "needs force_deregister = true", Line: 6},
		{Src: base + "shutdown_behavior = \"stopp\"", Want: `Did you mean "stop"?`, Line: 6},
		{Src: base + "user_data = \"x\"\nuser_data_file = \"config_test.go\"", Want: "Conflicting options", Line: 7},
		{Src: base + "user_data_file = \"nope.sh\"", Want: `there is no file "nope.sh"`, Line: 6},
		{Src: base + "subnet_id = \"subnet-1\"\nsubnet_filter {\n  filters = { a = \"b\" }\n}", Want: "Conflicting options", Line: 7},
		{Src: base + "security_group_id = \"sg-1\"\nsecurity_group_ids = [\"sg-2\"]", Want: "Conflicting options", Line: 7},
		{Src: base + "temporary_security_group_source_cidrs = [\"10.0.0.0/8\", \"10.0.0.1\"]", Want: `"10.0.0.1" is not a CIDR block`, Line: 6},
		{Name: "ipv6 sources", Src: base + "temporary_security_group_source_cidrs = [\"203.0.113.0/24\", \"2001:db8::/64\", \"::1/128\"]"},
		{Src: base + "temporary_security_group_source_cidrs = [\"2001:db8::/129\"]", Want: `"2001:db8::/129" is not a CIDR block`, Line: 6},
		{Src: base + "temporary_security_group_source_cidrs = [\"::ffff:203.0.113.0/120\"]", Want: `write it as "203.0.113.0/24"`, Line: 6},
		{Src: base + "ssh_interface = \"public\"", Want: `Did you mean "public_ip"?`, Line: 6},
		{Src: base + "ssh_interface = \"session_manager\"", Want: "Session Manager", Line: 6},
		{Src: base + "ssh_interface = \"public_ip\"\nassociate_public_ip_address = false", Want: "needs a public address", Line: 6},
		{Src: base + "aws_polling {\n  delay_seconds = 0\n  max_attempts = 10\n}", Want: `"delay_seconds" must be at least 1`, Line: 7},
		{Src: base + "launch_block_device_mappings {\n  volume_size = 8\n}", Want: `needs the option "device_name"`, Line: 6},
		{Src: base + "launch_block_device_mappings {\n  device_name = \"/dev/xvda\"\n  volume_size = 8\n  volume_type = \"gpp3\"\n}", Want: `Did you mean "gp3"?`, Line: 9},
		{Src: base + "launch_block_device_mappings {\n  device_name = \"/dev/xvda\"\n  volume_size = 8\n  volume_type = \"io2\"\n}", Want: `A io2 volume needs "iops"`, Line: 9},
		{Src: base + "launch_block_device_mappings {\n  device_name = \"/dev/xvda\"\n  volume_size = 8\n  volume_type = \"gp3\"\n  iops = 100\n}", Want: "A gp3 volume takes from 3000 to 16000 IOPS, not 100", Line: 10},
		{Src: base + "launch_block_device_mappings {\n  device_name = \"/dev/xvda\"\n  volume_size = 8\n  iops = 3000\n}", Want: `"iops" applies to io1, io2 and gp3 volumes, not "gp2"`, Line: 9},
		{Src: base + "launch_block_device_mappings {\n  device_name = \"/dev/xvda\"\n  volume_size = 8\n  volume_type = \"gp3\"\n  throughput = 2000\n}", Want: "from 125 to 1000 MiB/s, not 2000", Line: 10},
		{Src: base + "launch_block_device_mappings {\n  device_name = \"/dev/xvda\"\n  volume_size = 8\n  kms_key_id = \"alias/k\"\n}", Want: "needs encrypted = true", Line: 9},
		{Src: base + "launch_block_device_mappings {\n  device_name = \"/dev/xvda\"\n}", Want: `needs "volume_size"`, Line: 6},
		{Src: base + "ami_block_device_mappings {\n  device_name = \"/dev/sdb\"\n  volume_size = 8\n}\nami_block_device_mappings {\n  device_name = \"/dev/sdb\"\n  volume_size = 8\n}", Want: `"/dev/sdb" is mapped twice`, Line: 11},
		{Src: base + "temporary_key_pair_type = \"dsa\"", Want: `must be one of "ed25519", "rsa"`, Line: 6},
		{Src: base + "ami_virtualization_type = \"hvm\"", Want: "keeps", Line: 6, Warning: true},
		{Src: base + "ami_virtualization_type = \"pv\"", Want: `is "hvm" or "paravirtual", not "pv"`, Line: 6},
	})
}

func TestPrepareDefaults(t *testing.T) {
	var c Config
	configtest.MustPrepare(t, "amazon-ebs", base+"ami_regions = [\"us-east-1\", \"eu-west-1\"]\nsecurity_group_id = \"sg-1\"\nlaunch_block_device_mappings {\n  device_name = \"/dev/xvda\"\n  volume_size = 8\n}", &c)
	if c.ShutdownBehavior != "stop" || c.TemporaryKeyPairType != "ed25519" || c.Type != "ssh" || c.Timeout != 5*time.Minute ||
		!reflect.DeepEqual(c.AMIRegions, []string{"eu-west-1"}) || !reflect.DeepEqual(c.SecurityGroupIDs, []string{"sg-1"}) ||
		c.LaunchBlockDeviceMappings[0].VolumeType != "gp2" {
		t.Fatalf("defaults not filled: %+v", c)
	}
}

func TestDataSource(t *testing.T) {
	configtest.Run(t, "amazon-ami", func() templates.Config { return new(AMIDataConfig) }, []configtest.Case{
		{Name: "ok", Src: "filters = {\n  name = \"debian-12-amd64-*\"\n  virtualization-type = \"hvm\"\n}\nowners = [\"136693071363\"]\nmost_recent = true\nregion = \"eu-west-1\""},
		{Name: "region from chain", Src: "filters = { name = \"x\" }\nowners = [\"self\"]"},
		{Src: `filters = { name = "x" }`, Want: `needs "owners"`},
		{Src: `owners = ["self"]`, Want: `needs "filters"`},
		{Src: "filters = { name = \"x\" }\nowners = [\"self\"]\nregion = \"mars-1\"", Want: `"mars-1" is not an AWS region name`, Line: 3},
		{Src: "filters = { name = \"x\" }\nowners = [\"self\"]\nsecret_key = \"s\"", Want: `"access_key" is missing`, Line: 3},
	})
	if AMIDataType.AttributeType("id").FriendlyName() != "string" || !AMIDataType.HasAttribute("tags") {
		t.Fatalf("result type: %#v", AMIDataType)
	}
}
