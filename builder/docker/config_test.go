package docker

import (
	"reflect"
	"testing"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

func TestPrepare(t *testing.T) {
	configtest.Run(t, "docker", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "commit", Src: "image = \"debian\"\ncommit = true\nchanges = [\"CMD [\\\"/bin/sh\\\"]\", \"env A=b\", \"LABEL a=b\"]"},
		{Name: "export", Src: "image = \"debian\"\nexport_path = \"out.tar\""},
		{Name: "discard", Src: "image = \"debian\"\ndiscard = true\ncommit = false"},
		{Name: "unknown export path", Src: "image = \"debian\"\nexport_path = build.ID"},
		{Name: "squash", Src: "image = \"d\"\ncommit = true\nsquash = true"},
		{Src: "image = \"d\"\ndiscard = true\nsquash = true", Want: `"squash" only applies when commit = true`, Line: 3, Warning: true},
		{Src: `commit = true`, Want: `needs the option "image"`},
		{Src: `image = "debian"`, Want: `needs exactly one of "commit", "export_path", "discard"`, Line: 1},
		{Src: "image = \"debian\"\ncommit = false", Want: "needs exactly one of"},
		{Src: "image = \"debian\"\ncommit = true\ndiscard = true", Want: `"commit" and "discard" are both set`, Line: 3},
		{Src: "image = \"d\"\ncommit = true\nchanges = [\n  \"CMD x\",\n  \"RUN apt-get update\",\n]", Want: `The change "RUN apt-get update" does not begin with an instruction`, Line: 5},
		{Src: "image = \"d\"\ncommit = true\nchanges = [\"ENTRYPONT x\"]", Want: `Did you mean "ENTRYPOINT"?`, Line: 3},
		{Src: "image = \"d\"\ncommit = true\nchanges = [\"USER\"]", Want: `The change "USER" has no argument`, Line: 3},
		{Src: "image = \"d\"\nexport_path = \"x.tar\"\nchanges = [\"USER a\"]", Want: `only apply when the container is committed`, Line: 3, Warning: true},
		{Src: "image = \"d\"\ncommit = true\nplatform = \"amd64\"", Want: `"amd64" is not a platform`, Line: 3},
		{Src: "image = \"d\"\ncommit = true\nvolumes = {\n  \"/src\" = \"dst\"\n}", Want: `mounted at "dst", which is not an absolute path`, Line: 4},
		{Src: "image = \"d\"\ncommit = true\ntmpfs = [\"/run\", \"tmp:size=1g\"]", Want: `The tmpfs mount "tmp:size=1g"`, Line: 3},
		{Src: "image = \"d\"\ncommit = true\ndevice = [\"/dev/fuse:/dev/fuse:rwm:x\"]", Want: "Invalid device", Line: 3},
		{Src: "image = \"d\"\ncommit = true\ncontainer_dir = \"files\"", Want: `"container_dir" must be an absolute path`, Line: 3},
		{Src: "image = \"d\"\ncommit = true\ncommunicator = \"ssh\"", Want: `"communicator" must be "docker" or "none"`, Line: 3},
		{Src: "image = \"d\"\ncommit = true\ncommunicator = \"dokcer\"", Want: `Did you mean "docker"?`, Line: 3},
		{Src: "image = \"d\"\ncommit = true\nrun_command = [\"-d\", \"{{.Image}}\"]", Want: `"run_command" is ignored`, Line: 3, Warning: true},
		{Src: "image = \"d\"\ncommit = true\necr_login = true", Want: "does not log in to Amazon ECR", Line: 3, Warning: true},
		{Src: "image = \"d\"\ncommit = true\nlogin = true\nlogin_username = \"u\"", Want: `"login_password" is missing`, Line: 4},
		{Src: "image = \"d\"\ncommit = true\nlogin_server = \"r:5000\"", Want: "has no effect without login = true", Line: 3, Warning: true},
		{Src: "image = \"d\"\ncommit = true\npull = \"maybe\"", Want: "bool required", Line: 3},
		{Name: "bad commit said once", Src: "image = \"d\"\ncommit = \"maybe\"", Want: "bool required", Line: 2},
	})
}

func TestPrepareDefaults(t *testing.T) {
	var c Config
	configtest.MustPrepare(t, "docker", "image = \"debian\"\ncommit = true\ndevices = [\"/dev/fuse\"]", &c)
	if c.Communicator != "docker" || c.Pull == nil || !*c.Pull || c.ContainerDir != "/packer-files" ||
		c.FixUploadOwner == nil || !*c.FixUploadOwner || !reflect.DeepEqual(c.Devices, []string{"/dev/fuse"}) {
		t.Fatalf("defaults not filled: %+v", c)
	}
	var d Config
	configtest.MustPrepare(t, "docker", "image = \"debian\"\ncommit = true\npull = false\nfix_upload_owner = false", &d)
	if *d.Pull || *d.FixUploadOwner {
		t.Fatalf("explicit false overridden: %+v", d)
	}
}

func TestPostProcessors(t *testing.T) {
	configtest.Run(t, "docker-tag", func() templates.Config { return new(TagConfig) }, []configtest.Case{
		{Name: "tag ok", Src: "repository = \"localhost:5000/app\"\ntags = [\"1.0\", \"latest\"]"},
		{Src: `tags = ["x"]`, Want: `needs the option "repository"`},
		{Src: `repository = "App/Name"`, Want: `"App/Name" is not a valid repository name`, Line: 1},
		{Src: `repository = "app:1.0"`, Want: `give the tag in "tags"`, Line: 1},
		{Src: "repository = \"app\"\ntags = [\n  \"ok\",\n  \"-bad\",\n]", Want: `"-bad" is not a valid image tag`, Line: 4},
		{Name: "tag list ok", Src: "repository = \"app\"\ntag = [\"base\"]"},
		{Src: "repository = \"app\"\ntag = \"x\"", Want: "list of string required", Line: 2},
		{Src: "repository = \"app\"\ntag = [\"ok\", \"-bad\"]", Want: `"-bad" is not a valid image tag`, Line: 2},
	})
	configtest.Run(t, "docker-push", func() templates.Config { return new(PushConfig) }, []configtest.Case{
		{Name: "empty ok", Src: ``},
		{Src: "login = true\nlogin_password = \"p\"", Want: `"login_username" is missing`, Line: 2},
		{Src: `ecr_login = true`, Want: "ECR", Warning: true, Line: 1},
	})
	configtest.Run(t, "docker-save", func() templates.Config { return new(SaveConfig) }, []configtest.Case{
		{Name: "save ok", Src: `path = "image.tar"`},
		{Src: ``, Want: `needs the option "path"`},
		{Src: `path = ""`, Want: `"path" must name the tar file`, Line: 1},
	})
	configtest.Run(t, "docker-import", func() templates.Config { return new(ImportConfig) }, []configtest.Case{
		{Name: "import ok", Src: "repository = \"app\"\ntag = \"v1\"\nchanges = [\"WORKDIR /app\"]\nplatform = \"linux/amd64\""},
		{Src: `tag = "v1"`, Want: `needs the option "repository"`},
		{Src: "repository = \"app\"\nchanges = [\"COPY a b\"]", Want: `"COPY a b" does not begin with an instruction`, Line: 2},
		{Src: "repository = \"app\"\ntag = \"a b\"", Want: `"a b" is not a valid image tag`, Line: 2},
	})

	var tag TagConfig
	configtest.MustPrepare(t, "docker-tag", `repository = "app"`, &tag)
	if !reflect.DeepEqual(tag.Tags, []string{"latest"}) {
		t.Fatalf("default tags: %v", tag.Tags)
	}
	var old TagConfig
	configtest.MustPrepare(t, "docker-tag", "repository = \"app\"\ntags = [\"v1\"]\ntag = [\"v2\"]", &old)
	if !reflect.DeepEqual(old.Tags, []string{"v1", "v2"}) {
		t.Fatalf("tag folded into tags: %v", old.Tags)
	}
	var imp ImportConfig
	configtest.MustPrepare(t, "docker-import", `repository = "app"`, &imp)
	if imp.Tag != "latest" {
		t.Fatalf("default import tag: %q", imp.Tag)
	}
}
