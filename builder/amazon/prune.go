package amazon

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// pruneAPI is the subset of the EC2 client that AMIDeleter uses.
type pruneAPI interface {
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, opts ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DeregisterImage(ctx context.Context, in *ec2.DeregisterImageInput, opts ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DeleteSnapshot(ctx context.Context, in *ec2.DeleteSnapshotInput, opts ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
}

var _ pruneAPI = (*ec2.Client)(nil)

// AMIDeleter removes AMIs a pruned version delivered, with their EBS
// snapshots (bake prune wires it). It reaches EC2 through the standard
// credential chain and, when set, a custom endpoint. Not safe for
// concurrent use.
type AMIDeleter struct {
	access AccessConfig
	newAPI func(ctx context.Context, region string) (pruneAPI, error)
	apis   map[string]pruneAPI
}

// NewAMIDeleter returns a deleter that talks to endpoint ("" for AWS's).
func NewAMIDeleter(endpoint string) *AMIDeleter {
	d := &AMIDeleter{access: AccessConfig{CustomEndpointEC2: endpoint}, apis: map[string]pruneAPI{}}
	d.newAPI = func(ctx context.Context, region string) (pruneAPI, error) {
		return newEC2(ctx, &d.access, region, tuning{})
	}
	return d
}

// DeleteAMI deregisters AMI id in region and deletes the snapshots its
// block devices were made of, and returns their ids. An AMI that is
// already gone is no error (gone reports it); the snapshots are read
// before the AMI is deregistered, since afterwards nothing names them.
func (d *AMIDeleter) DeleteAMI(ctx context.Context, region, id string) (snapshots []string, gone bool, err error) {
	api := d.apis[region]
	if api == nil {
		if api, err = d.newAPI(ctx, region); err != nil {
			return nil, false, fmt.Errorf("ec2 in %s: %w", region, err)
		}
		d.apis[region] = api
	}
	out, err := api.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if isCode(err, "InvalidAMIID.NotFound") || err == nil && len(out.Images) == 0 {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("describe %s in %s: %w", id, region, err)
	}
	for _, bd := range out.Images[0].BlockDeviceMappings {
		if bd.Ebs != nil && aws.ToString(bd.Ebs.SnapshotId) != "" {
			snapshots = append(snapshots, aws.ToString(bd.Ebs.SnapshotId))
		}
	}
	if _, err := api.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil && !isCode(err, "InvalidAMIID.NotFound") {
		return nil, false, fmt.Errorf("deregister %s in %s: %w", id, region, err)
	}
	var errs []error
	var deleted []string
	for _, s := range snapshots {
		_, err := api.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(s)})
		switch {
		case err == nil, isCode(err, "InvalidSnapshot.NotFound"):
			deleted = append(deleted, s)
		default:
			errs = append(errs, fmt.Errorf("delete snapshot %s of %s in %s: %w", s, id, region, err))
		}
	}
	return deleted, false, errors.Join(errs...)
}

func isCode(err error, code string) bool { return err != nil && errorCode(err) == code }
