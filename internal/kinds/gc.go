package kinds

import (
	"github.com/bake-tool/bake/builder/amazon"
	"github.com/bake-tool/bake/builder/docker"
	"github.com/bake-tool/bake/builder/qemu"
	"github.com/bake-tool/bake/internal/gc"
)

// GCConfig says where the finders look beyond this machine.
type GCConfig struct {
	// Regions are the AWS regions searched for EC2 leftovers.
	Regions []string
	// Endpoint, when set, is the EC2 endpoint (custom_endpoint_ec2).
	Endpoint string
}

// Finders returns the finder of every kind that leaves things behind, in
// the order a sweep runs them: processes on this machine first (so that
// nothing recreates what goes next), then each builder's resources.
func Finders(c GCConfig) []gc.Finder {
	return []gc.Finder{
		gc.Local{},                              // shell-local processes, temporary files
		qemu.NewFinder(),                        // qemu processes, temporary directories
		docker.NewFinder(),                      // containers, images
		amazon.NewFinder(c.Regions, c.Endpoint), // instances, AMIs, snapshots, key pairs, security groups
	}
}
