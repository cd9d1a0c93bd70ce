package amazon

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/ui"
)

var _ builder.Tester = (*Builder)(nil)

// CanTest refuses a build that makes no AMI or has no communicator.
func (b *Builder) CanTest() error {
	if b.cfg.SkipCreateAMI {
		return errors.New("amazon-ebs: skip_create_ami makes no AMI to launch a test instance from")
	}
	if !b.sshComm() {
		return fmt.Errorf("amazon-ebs: tests run through SSH: communicator = %q cannot run them", b.cfg.Type)
	}
	return nil
}

// Test launches an instance from the new AMI in the build region, with
// the build's instance type, network, key (a new temporary key pair when
// the build made one) and security group, runs hook over SSH, and
// terminates the instance and deletes what it made for it on every path.
// The AMI itself is untouched.
func (b *Builder) Test(ctx context.Context, ui ui.UI, art *artifacts.Artifact, hook builder.Hook) error {
	ami := art.State["region:"+b.cfg.Region]
	if ami == "" {
		return fmt.Errorf("amazon-ebs: the artifact has no AMI in the build region %s", b.cfg.Region)
	}
	s := &state{ui: ui, existing: map[string][]string{}, amis: map[string]string{}, snaps: map[string][]string{}}
	s.inst, s.img = pollers(&b.cfg.AccessConfig, b.tuning.withDefaults().pollUnit)
	steps := []builder.Step[state]{
		{Name: "find the AMI to test", Run: func(ctx context.Context, s *state) error {
			c, err := b.client(ctx, b.cfg.Region)
			if err != nil {
				return err
			}
			s.ec2 = c
			out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
			if err != nil {
				return fmt.Errorf("AMI %s in %s: %w", ami, b.cfg.Region, err)
			}
			if len(out.Images) != 1 {
				return fmt.Errorf("AMI %s not found in %s", ami, b.cfg.Region)
			}
			s.source = out.Images[0]
			s.ui.Say(fmt.Sprintf("testing AMI %s on an instance of its own", aws.ToString(s.source.ImageId)))
			return nil
		}},
		{Name: "find network", Run: b.findNetwork},
	}
	steps = append(steps, b.launchSteps("launch test instance")...)
	steps = append(steps, builder.Step[state]{Name: "run tests", Run: func(ctx context.Context, s *state) error { return b.provision(ctx, s, hook) }, Cleanup: closeComm})
	return builder.RunSteps(ctx, builder.TestOptions(b.opts), ui, s, steps)
}
