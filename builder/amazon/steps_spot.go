package amazon

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// A spot instance is launched as Packer launches one: a temporary launch
// template holds what RunInstances would be given, and an EC2 fleet of
// type instant launches one spot instance from it, trying the instance
// types of spot_instance_types (or instance_type) at most at spot_price
// each ("auto": at most the on-demand price). The fleet and the template
// are deleted with the instance.

// fleetTagKey is the tag EC2 puts on the instances a fleet launched.
const fleetTagKey = "aws:ec2:fleet-id"

func (b *Builder) spot() bool { return b.cfg.SpotPrice != "" }

// templateData turns a RunInstances input into a launch template's data.
func (b *Builder) templateData(in *ec2.RunInstancesInput) *types.RequestLaunchTemplateData {
	d := &types.RequestLaunchTemplateData{
		ImageId:      in.ImageId,
		KeyName:      in.KeyName,
		UserData:     in.UserData,
		EbsOptimized: in.EbsOptimized,
		// The fleet's overrides give the instance type and the subnet.
		SecurityGroupIds:                  in.SecurityGroupIds,
		InstanceInitiatedShutdownBehavior: in.InstanceInitiatedShutdownBehavior,
	}
	for _, m := range in.BlockDeviceMappings {
		r := types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: m.DeviceName, NoDevice: m.NoDevice, VirtualName: m.VirtualName}
		if e := m.Ebs; e != nil {
			r.Ebs = &types.LaunchTemplateEbsBlockDeviceRequest{DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted,
				Iops: e.Iops, KmsKeyId: e.KmsKeyId, SnapshotId: e.SnapshotId, Throughput: e.Throughput, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType}
		}
		d.BlockDeviceMappings = append(d.BlockDeviceMappings, r)
	}
	if p := in.IamInstanceProfile; p != nil {
		d.IamInstanceProfile = &types.LaunchTemplateIamInstanceProfileSpecificationRequest{Arn: p.Arn, Name: p.Name}
	}
	if m := in.MetadataOptions; m != nil {
		d.MetadataOptions = &types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpEndpoint:            types.LaunchTemplateInstanceMetadataEndpointState(m.HttpEndpoint),
			HttpTokens:              types.LaunchTemplateHttpTokensState(m.HttpTokens),
			HttpPutResponseHopLimit: m.HttpPutResponseHopLimit,
			InstanceMetadataTags:    types.LaunchTemplateInstanceMetadataTagsState(m.InstanceMetadataTags),
		}
	}
	for _, ni := range in.NetworkInterfaces {
		d.NetworkInterfaces = append(d.NetworkInterfaces, types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{
			DeviceIndex: ni.DeviceIndex, AssociatePublicIpAddress: ni.AssociatePublicIpAddress,
			DeleteOnTermination: ni.DeleteOnTermination, Groups: ni.Groups,
		})
	}
	if p := in.Placement; p != nil {
		d.Placement = &types.LaunchTemplatePlacementRequest{AvailabilityZone: p.AvailabilityZone}
	}
	for _, ts := range in.TagSpecifications {
		d.TagSpecifications = append(d.TagSpecifications, types.LaunchTemplateTagSpecificationRequest{ResourceType: ts.ResourceType, Tags: ts.Tags})
	}
	d.TagSpecifications = append(d.TagSpecifications, types.LaunchTemplateTagSpecificationRequest{
		ResourceType: types.ResourceTypeSpotInstancesRequest, Tags: b.tags(b.cfg.SpotTags)})
	return d
}

// createTemplate creates the temporary launch template.
func (b *Builder) createTemplate(ctx context.Context, s *state) error {
	in, err := b.runInput(s)
	if err != nil {
		return err
	}
	name := b.tempName()
	s.templateTried = name
	cctx, cancel := creating(ctx)
	out, err := s.ec2.CreateLaunchTemplate(cctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: b.templateData(in),
		TagSpecifications:  []types.TagSpecification{b.tagSpec(types.ResourceTypeLaunchTemplate, nil)},
	})
	cancel()
	if errorCode(err) == "InvalidLaunchTemplateName.AlreadyExistsException" {
		return fmt.Errorf("create launch template: name %q is taken in %s; bake deletes only the templates it creates: %w", name, b.cfg.Region, err)
	}
	if err != nil {
		return fmt.Errorf("create launch template %s: %w", name, err)
	}
	if out.LaunchTemplate == nil || out.LaunchTemplate.LaunchTemplateId == nil {
		return fmt.Errorf("create launch template %s: EC2 answered without its id", name)
	}
	s.templateID, s.templateTried = aws.ToString(out.LaunchTemplate.LaunchTemplateId), ""
	s.ui.Say(fmt.Sprintf("created temporary launch template %s", s.templateID))
	return nil
}

func templateGone(err error) bool {
	c := errorCode(err)
	return isNotFound(err) || c == "InvalidLaunchTemplateName.NotFoundException" || c == "InvalidLaunchTemplateId.NotFound"
}

// deleteTemplate deletes the temporary launch template.
func (b *Builder) deleteTemplate(ctx context.Context, s *state) error {
	if s.templateID == "" && s.templateTried != "" {
		// The create call failed, yet may have made the template: only one
		// carrying the build's tags is ours.
		out, err := s.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{
			Filters: append(b.runFilters(), types.Filter{Name: aws.String("launch-template-name"), Values: []string{s.templateTried}}),
		})
		if err != nil && !templateGone(err) {
			return fmt.Errorf("look for launch template %s in %s: %w", s.templateTried, b.cfg.Region, err)
		}
		if err == nil {
			for _, lt := range out.LaunchTemplates {
				s.templateID = aws.ToString(lt.LaunchTemplateId)
			}
		}
		s.templateTried = ""
	}
	if s.templateID == "" {
		return nil
	}
	id := s.templateID
	err := b.retryCleanup(ctx, func(ctx context.Context) error {
		_, err := s.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(id)})
		if templateGone(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete launch template %s in %s: %w", id, b.cfg.Region, err)
	}
	s.templateID = ""
	return nil
}

func (b *Builder) leftTemplate(s *state) string {
	if s.templateID == "" {
		return ""
	}
	return fmt.Sprintf("launch template %s in %s: aws ec2 delete-launch-template --region %s --launch-template-id %s", s.templateID, b.cfg.Region, b.cfg.Region, s.templateID)
}

// launchSpot launches the spot instance through an instant fleet and
// waits until it is running.
func (b *Builder) launchSpot(ctx context.Context, s *state) error {
	var overrides []types.FleetLaunchTemplateOverridesRequest
	for _, t := range b.cfg.instanceTypes() {
		o := types.FleetLaunchTemplateOverridesRequest{InstanceType: types.InstanceType(t)}
		if s.subnetID != "" {
			o.SubnetId = aws.String(s.subnetID)
		}
		if b.cfg.SpotPrice != "auto" {
			o.MaxPrice = aws.String(b.cfg.SpotPrice)
		}
		overrides = append(overrides, o)
	}
	in := &ec2.CreateFleetInput{
		Type: types.FleetTypeInstant,
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{LaunchTemplateId: aws.String(s.templateID), Version: aws.String("1")},
			Overrides:                   overrides,
		}},
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity:       aws.Int32(1),
			DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot,
		},
		ReplaceUnhealthyInstances: aws.Bool(false),
		TagSpecifications:         []types.TagSpecification{b.tagSpec(types.ResourceTypeFleet, nil)},
	}
	if a := b.cfg.SpotAllocationStrategy; a != "" {
		in.SpotOptions = &types.SpotOptionsRequest{AllocationStrategy: types.SpotAllocationStrategy(a)}
	}
	var out *ec2.CreateFleetOutput
	err := b.untilProfileUsable(ctx, s, func() (string, error) {
		if s.fleetID != "" {
			// The last fleet launched nothing: it goes before the next.
			if err := b.terminateSpot(ctx, s); err != nil {
				return "", err
			}
		}
		s.fleetTried = true
		cctx, cancel := creating(ctx)
		defer cancel()
		var err error
		out, err = s.ec2.CreateFleet(cctx, in)
		if err != nil {
			return errorCode(err) + ": " + errorMessage(err), err
		}
		s.fleetID, s.fleetTried = aws.ToString(out.FleetId), false
		for _, fi := range out.Instances {
			for _, id := range fi.InstanceIds {
				if s.instanceID == "" {
					s.instanceID = id
				}
			}
		}
		if s.instanceID == "" && len(out.Errors) > 0 {
			return aws.ToString(out.Errors[0].ErrorCode) + ": " + aws.ToString(out.Errors[0].ErrorMessage), nil
		}
		return "", nil
	})
	kinds := strings.Join(b.cfg.instanceTypes(), ", ")
	if err != nil {
		return fmt.Errorf("request spot instance (%s) in %s: %w", kinds, b.cfg.Region, err)
	}
	if s.instanceID == "" {
		var reasons []string
		for _, e := range out.Errors {
			reasons = append(reasons, aws.ToString(e.ErrorCode)+": "+aws.ToString(e.ErrorMessage))
		}
		if len(reasons) == 0 {
			reasons = []string{"no reason given"}
		}
		return fmt.Errorf("request spot instance (%s) in %s: fleet %s launched none: %s", kinds, b.cfg.Region, s.fleetID, strings.Join(reasons, "; "))
	}
	return b.launched(ctx, s)
}

// terminateSpot deletes the fleet, which terminates its instance, then
// waits for the instance to be terminated.
func (b *Builder) terminateSpot(ctx context.Context, s *state) error {
	if s.fleetTried || s.fleetID != "" && s.instanceID == "" {
		// CreateFleet may have launched without our hearing of it: the
		// instance carries the build's tags and the fleet's id.
		out, err := s.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: b.runFilters()})
		if err != nil {
			return fmt.Errorf("look for this build's spot instance: %w", err)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if in.State == nil || in.State.Name == types.InstanceStateNameTerminated {
					continue
				}
				s.instanceID = aws.ToString(in.InstanceId)
				for _, t := range in.Tags {
					if aws.ToString(t.Key) == fleetTagKey && s.fleetID == "" {
						s.fleetID = aws.ToString(t.Value)
					}
				}
			}
		}
		s.fleetTried = false
	}
	if s.fleetID != "" {
		id := s.fleetID
		err := b.retryCleanup(ctx, func(ctx context.Context) error {
			out, err := s.ec2.DeleteFleets(ctx, &ec2.DeleteFleetsInput{FleetIds: []string{id}, TerminateInstances: aws.Bool(true)})
			if err != nil {
				return err
			}
			for _, u := range out.UnsuccessfulFleetDeletions {
				if u.Error != nil && u.Error.Code != types.DeleteFleetErrorCodeFleetIdDoesNotExist {
					return fmt.Errorf("%s: %s", u.Error.Code, aws.ToString(u.Error.Message))
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete fleet %s in %s: %w", id, b.cfg.Region, err)
		}
		s.fleetID = ""
	}
	return b.terminate(ctx, s)
}

func (b *Builder) leftSpot(s *state) string {
	var lines []string
	if s.fleetID != "" {
		lines = append(lines, fmt.Sprintf("fleet %s in %s: aws ec2 delete-fleets --region %s --terminate-instances --fleet-ids %s", s.fleetID, b.cfg.Region, b.cfg.Region, s.fleetID))
	}
	if l := b.leftInstance(s); l != "" {
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}
