package ec2test

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

type handler func(s *Server, r *region, p params) (*result, *apiError)

// handlers are the actions the server answers.
var handlers = map[string]handler{
	"DescribeRegions":               describeRegions,
	"DescribeVpcs":                  describeVPCs,
	"DescribeSubnets":               describeSubnets,
	"DescribeImages":                describeImages,
	"CreateImage":                   createImage,
	"CopyImage":                     copyImage,
	"DeregisterImage":               deregisterImage,
	"ModifyImageAttribute":          modifyImageAttribute,
	"DescribeSnapshots":             describeSnapshots,
	"DeleteSnapshot":                deleteSnapshot,
	"ModifySnapshotAttribute":       modifySnapshotAttribute,
	"CreateKeyPair":                 createKeyPair,
	"ImportKeyPair":                 importKeyPair,
	"DescribeKeyPairs":              describeKeyPairs,
	"DeleteKeyPair":                 deleteKeyPair,
	"CreateSecurityGroup":           createSecurityGroup,
	"AuthorizeSecurityGroupIngress": authorizeIngress,
	"DescribeSecurityGroups":        describeSecurityGroups,
	"DeleteSecurityGroup":           deleteSecurityGroup,
	"RunInstances":                  runInstances,
	"DescribeInstances":             describeInstances,
	"StopInstances":                 stopInstances,
	"TerminateInstances":            terminateInstances,
	"CreateTags":                    createTags,
	"EnableImageDeprecation":        enableImageDeprecation,
	"CreateLaunchTemplate":          createLaunchTemplate,
	"DescribeLaunchTemplates":       describeLaunchTemplates,
	"DeleteLaunchTemplate":          deleteLaunchTemplate,
	"CreateFleet":                   createFleet,
	"DescribeFleets":                describeFleets,
	"DeleteFleets":                  deleteFleets,
}

func ret() *result { return ok(el("return", true)) }

// --- regions, VPCs, subnets ---

func describeRegions(s *Server, _ *region, p params) (*result, *apiError) {
	names := p.strings("RegionName")
	for _, n := range names {
		if s.regions[n] == nil {
			return nil, errorf("InvalidParameterValue", "Invalid region: %s", n)
		}
	}
	var items []*node
	for _, n := range sortedKeys(s.regions) {
		if len(names) > 0 && !slices.Contains(names, n) {
			continue
		}
		hit, err := matches(p.filters(), attrs{"region-name": {n}, "endpoint": {"ec2." + n + ".amazonaws.com"},
			"opt-in-status": {"opt-in-not-required"}}, nil)
		if err != nil {
			return nil, err
		}
		if hit {
			items = append(items, item(el("regionName", n), el("regionEndpoint", "ec2."+n+".amazonaws.com"), el("optInStatus", "opt-in-not-required")))
		}
	}
	return ok(set("regionInfo", items)), nil
}

func describeVPCs(_ *Server, r *region, p params) (*result, *apiError) {
	ids := p.strings("VpcId")
	for _, id := range ids {
		if r.vpcs[id] == nil {
			return nil, errorf("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
		}
	}
	var items []*node
	for _, id := range sortedKeys(r.vpcs) {
		v := r.vpcs[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		hit, err := matches(p.filters(), attrs{"vpc-id": {v.ID}, "cidr": {v.CIDR}, "cidr-block": {v.CIDR},
			"cidr-block-association.cidr-block": {v.CIDR}, "is-default": {strconv.FormatBool(v.Default)},
			"isDefault": {strconv.FormatBool(v.Default)}, "state": {"available"}, "owner-id": {DefaultAccount}}, v.Tags)
		if err != nil {
			return nil, err
		}
		if hit {
			items = append(items, item(el("vpcId", v.ID), el("state", "available"), el("cidrBlock", v.CIDR),
				el("isDefault", v.Default), el("instanceTenancy", "default"), tagSet(v.Tags)))
		}
	}
	return ok(set("vpcSet", items)), nil
}

func describeSubnets(_ *Server, r *region, p params) (*result, *apiError) {
	ids := p.strings("SubnetId")
	for _, id := range ids {
		if r.subnets[id] == nil {
			return nil, errorf("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	var items []*node
	for _, id := range sortedKeys(r.subnets) {
		sn := r.subnets[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		hit, err := matches(p.filters(), attrs{"subnet-id": {sn.ID}, "vpc-id": {sn.VPCID}, "availability-zone": {sn.AZ},
			"availabilityZone": {sn.AZ}, "cidr-block": {sn.CIDR}, "cidrBlock": {sn.CIDR}, "cidr": {sn.CIDR},
			"default-for-az": {strconv.FormatBool(sn.Default)}, "defaultForAz": {strconv.FormatBool(sn.Default)},
			"state": {"available"}, "map-public-ip-on-launch": {strconv.FormatBool(sn.MapPublicIP)},
			"available-ip-address-count": {strconv.Itoa(sn.Free)}}, sn.Tags)
		if err != nil {
			return nil, err
		}
		if hit {
			items = append(items, item(el("subnetId", sn.ID), el("state", "available"), el("vpcId", sn.VPCID),
				el("cidrBlock", sn.CIDR), el("availableIpAddressCount", sn.Free), el("availabilityZone", sn.AZ),
				el("defaultForAz", sn.Default), el("mapPublicIpOnLaunch", sn.MapPublicIP), tagSet(sn.Tags)))
		}
	}
	return ok(set("subnetSet", items)), nil
}

// --- images ---

func imageAttrs(img *Image) attrs {
	a := attrs{"image-id": {img.ID}, "name": {img.Name}, "state": {img.State}, "owner-id": {img.Owner},
		"owner-alias": {img.OwnerAlias}, "architecture": {img.Architecture}, "virtualization-type": {img.VirtualizationType},
		"root-device-type": {"ebs"}, "root-device-name": {img.RootDeviceName}, "is-public": {strconv.FormatBool(img.Public)},
		"description": {img.Description}, "image-type": {"machine"}, "hypervisor": {"xen"},
		"ena-support": {strconv.FormatBool(img.ENASupport)}, "creation-date": {img.CreationDate.UTC().Format("2006-01-02T15:04:05.000Z")},
		"block-device-mapping.snapshot-id": img.snapshotIDs(), "source-instance-id": {img.SourceInstanceID}}
	for _, bd := range img.BlockDevices {
		a["block-device-mapping.device-name"] = append(a["block-device-mapping.device-name"], bd.DeviceName)
		a["block-device-mapping.encrypted"] = append(a["block-device-mapping.encrypted"], strconv.FormatBool(bd.Encrypted))
	}
	return a
}

func blockDeviceNodes(bds []BlockDevice) *node {
	var items []*node
	for _, bd := range bds {
		if bd.NoDevice {
			items = append(items, item(el("deviceName", bd.DeviceName), el("noDevice", "")))
			continue
		}
		items = append(items, item(el("deviceName", bd.DeviceName), obj("ebs",
			optional("snapshotId", bd.SnapshotID), el("volumeSize", bd.VolumeSize), el("deleteOnTermination", bd.DeleteOnTermination),
			el("volumeType", bd.VolumeType), el("encrypted", bd.Encrypted), optional("kmsKeyId", bd.KMSKeyID))))
	}
	return set("blockDeviceMapping", items)
}

func imageNode(img *Image) *node {
	return item(el("imageId", img.ID), el("imageLocation", img.Owner+"/"+img.Name), el("imageState", img.State),
		el("imageOwnerId", img.Owner), el("creationDate", img.CreationDate), el("isPublic", img.Public),
		el("architecture", img.Architecture), el("imageType", "machine"), el("name", img.Name),
		optional("description", img.Description), optional("imageOwnerAlias", img.OwnerAlias),
		el("rootDeviceType", "ebs"), el("rootDeviceName", img.RootDeviceName), blockDeviceNodes(img.BlockDevices),
		el("virtualizationType", img.VirtualizationType), el("hypervisor", "xen"), el("enaSupport", img.ENASupport),
		optional("sourceInstanceId", img.SourceInstanceID), optional("sourceImageId", img.SourceImageID),
		optional("sourceImageRegion", img.SourceRegion), optional("imdsSupport", img.IMDSSupport),
		optional("deprecationTime", deprecation(img.DeprecationTime)), tagSet(img.Tags))
}

func deprecation(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (s *Server) ownedBy(img *Image, owners []string) bool {
	if len(owners) == 0 {
		return true
	}
	for _, o := range owners {
		switch {
		case o == "self" && img.Owner == s.opts.Account,
			o == img.Owner,
			o != "" && o == img.OwnerAlias:
			return true
		}
	}
	return false
}

func describeImages(s *Server, r *region, p params) (*result, *apiError) {
	ids := p.strings("ImageId")
	for _, id := range ids {
		if !strings.HasPrefix(id, "ami-") {
			return nil, errorf("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
		}
		if r.images[id] == nil {
			return nil, errorf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
		}
	}
	owners := p.strings("Owner")
	var items []*node
	for _, img := range sortedImages(r.images) {
		if len(ids) > 0 && !slices.Contains(ids, img.ID) || !s.ownedBy(img, owners) {
			continue
		}
		hit, err := matches(p.filters(), imageAttrs(img), img.Tags)
		if err != nil {
			return nil, err
		}
		if hit {
			items = append(items, imageNode(img))
		}
	}
	return ok(set("imagesSet", items)), nil
}

func (s *Server) nameTaken(r *region, name string) *apiError {
	for _, img := range r.images {
		if img.Name == name && img.Owner == s.opts.Account {
			return errorf("InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s", name, img.ID)
		}
	}
	return nil
}

func parseBlockDevices(p params) []BlockDevice {
	var out []BlockDevice
	for _, m := range p.members("BlockDeviceMapping") {
		bd := BlockDevice{DeviceName: m.get("DeviceName"), NoDevice: m["NoDevice"] != nil}
		e := m.sub("Ebs")
		bd.SnapshotID, bd.VolumeSize, bd.VolumeType = e.get("SnapshotId"), e.int("VolumeSize"), e.get("VolumeType")
		bd.DeleteOnTermination, bd.Encrypted, bd.KMSKeyID = e.bool("DeleteOnTermination"), e.bool("Encrypted"), e.get("KmsKeyId")
		out = append(out, bd)
	}
	return out
}

// overlay applies mappings to base by device name.
func overlay(base, mappings []BlockDevice) []BlockDevice {
	out := slices.Clone(base)
	for _, m := range mappings {
		i := slices.IndexFunc(out, func(b BlockDevice) bool { return b.DeviceName == m.DeviceName })
		switch {
		case m.NoDevice && i >= 0:
			out = slices.Delete(out, i, i+1)
		case m.NoDevice:
		case i >= 0:
			if m.VolumeSize > 0 {
				out[i].VolumeSize = m.VolumeSize
			}
			if m.VolumeType != "" {
				out[i].VolumeType = m.VolumeType
			}
			if m.SnapshotID != "" {
				out[i].SnapshotID = m.SnapshotID
			}
			out[i].DeleteOnTermination = m.DeleteOnTermination
			out[i].Encrypted = out[i].Encrypted || m.Encrypted
			if m.KMSKeyID != "" {
				out[i].KMSKeyID = m.KMSKeyID
			}
		default:
			if m.VolumeType == "" {
				m.VolumeType = "gp2"
			}
			out = append(out, m)
		}
	}
	return out
}

func createImage(s *Server, r *region, p params) (*result, *apiError) {
	id := p.get("InstanceId")
	in := r.instances[id]
	if in == nil {
		return nil, errorf("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	if in.State != "running" && in.State != "stopped" {
		return nil, errorf("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be imaged (%s).", id, in.State)
	}
	name := p.get("Name")
	if name == "" {
		return nil, errorf("MissingParameter", "The request must contain the parameter Name")
	}
	if err := s.nameTaken(r, name); err != nil {
		return nil, err
	}
	now := time.Now()
	img := &Image{ID: newID("ami"), Region: r.name, Name: name, Description: p.get("Description"), Owner: s.opts.Account,
		State: "pending", Architecture: "x86_64", VirtualizationType: "hvm", RootDeviceName: "/dev/xvda", CreationDate: now.UTC(),
		Tags: p.tagSpecs("image"), SourceInstanceID: id, ENASupport: true}
	if src := r.images[in.ImageID]; src != nil {
		img.Architecture, img.VirtualizationType, img.RootDeviceName = src.Architecture, src.VirtualizationType, src.RootDeviceName
	}
	snapTags := p.tagSpecs("snapshot")
	onInstance := map[string]bool{}
	for _, bd := range in.BlockDevices {
		onInstance[bd.DeviceName] = true
	}
	mappings := overlay(in.BlockDevices, parseBlockDevices(p))
	for _, bd := range mappings {
		if !onInstance[bd.DeviceName] && bd.SnapshotID != "" && r.snapshots[bd.SnapshotID] == nil {
			return nil, errorf("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", bd.SnapshotID)
		}
	}
	for _, bd := range mappings {
		switch {
		case !onInstance[bd.DeviceName] && bd.SnapshotID != "":
			// A mapping the instance does not have, from a snapshot: the
			// image refers to that snapshot, as EC2's does, and makes none.
		case !bd.NoDevice:
			sn := &Snapshot{ID: newID("snap"), Region: r.name, Owner: s.opts.Account, State: "pending", Progress: "0%",
				VolumeID: newID("vol"), VolumeSize: max(bd.VolumeSize, 1), Encrypted: bd.Encrypted, KMSKeyID: bd.KMSKeyID,
				StartTime: now.UTC(), Tags: maps.Clone(snapTags),
				Description: fmt.Sprintf("Created by CreateImage(%s) for %s", id, img.ID), until: deadline(now, s.delays.SnapshotPending)}
			r.snapshots[sn.ID] = sn
			bd.SnapshotID = sn.ID
		}
		img.BlockDevices = append(img.BlockDevices, bd)
	}
	img.until = deadline(now, s.delays.ImagePending)
	r.images[img.ID] = img
	return ok(el("imageId", img.ID)), nil
}

func copyImage(s *Server, r *region, p params) (*result, *apiError) {
	srcRegion := s.regions[p.get("SourceRegion")]
	if srcRegion == nil {
		return nil, errorf("InvalidParameterValue", "Invalid source region: %s", p.get("SourceRegion"))
	}
	srcID := p.get("SourceImageId")
	src := srcRegion.images[srcID]
	if src == nil {
		return nil, errorf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", srcID)
	}
	if src.State != "available" {
		return nil, errorf("IncorrectState", "Image %s is not in a valid state to copy (%s).", srcID, src.State)
	}
	name := p.get("Name")
	if name == "" {
		name = src.Name
	}
	if err := s.nameTaken(r, name); err != nil {
		return nil, err
	}
	now := time.Now()
	img := &Image{ID: newID("ami"), Region: r.name, Name: name, Description: p.get("Description"), Owner: s.opts.Account,
		State: "pending", Architecture: src.Architecture, VirtualizationType: src.VirtualizationType, RootDeviceName: src.RootDeviceName,
		CreationDate: now.UTC(), Tags: p.tagSpecs("image"), SourceRegion: srcRegion.name, SourceImageID: srcID, ENASupport: src.ENASupport}
	if m := p.get("SnapshotCopyCompletionDurationMinutes"); m != "" {
		if n := p.int("SnapshotCopyCompletionDurationMinutes"); n < 15 || n > 2880 || n%15 != 0 {
			return nil, errorf("InvalidParameterValue", "Value (%s) for parameter SnapshotCopyCompletionDurationMinutes is invalid.", m)
		}
		img.CopyDurationMinutes = p.int("SnapshotCopyCompletionDurationMinutes")
	}
	if p.bool("CopyImageTags") {
		for k, v := range src.Tags {
			if _, set := img.Tags[k]; !set {
				img.Tags[k] = v
			}
		}
	}
	encrypt, key := p.bool("Encrypted"), p.get("KmsKeyId")
	snapTags := p.tagSpecs("snapshot")
	for _, bd := range src.BlockDevices {
		if bd.SnapshotID != "" {
			sn := &Snapshot{ID: newID("snap"), Region: r.name, Owner: s.opts.Account, State: "pending", Progress: "0%",
				VolumeID: "vol-ffffffff", VolumeSize: bd.VolumeSize, Encrypted: bd.Encrypted || encrypt, KMSKeyID: bd.KMSKeyID,
				StartTime: now.UTC(), Tags: maps.Clone(snapTags),
				Description: fmt.Sprintf("Copied for DestinationAmi %s from SourceAmi %s for SourceSnapshot %s.", img.ID, srcID, bd.SnapshotID),
				until:       deadline(now, s.delays.CopyPending)}
			if encrypt {
				sn.KMSKeyID = key
				if key == "" {
					sn.KMSKeyID = "alias/aws/ebs"
				}
			}
			r.snapshots[sn.ID] = sn
			bd.SnapshotID, bd.Encrypted, bd.KMSKeyID = sn.ID, sn.Encrypted, sn.KMSKeyID
		}
		img.BlockDevices = append(img.BlockDevices, bd)
	}
	img.until = deadline(now, s.delays.CopyPending)
	r.images[img.ID] = img
	return ok(el("imageId", img.ID)), nil
}

func (s *Server) ownImage(r *region, id string) (*Image, *apiError) {
	img := r.images[id]
	if img == nil {
		return nil, errorf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	}
	if img.Owner != s.opts.Account {
		return nil, errorf("AuthFailure", "Not authorized for image:%s", id)
	}
	return img, nil
}

func deregisterImage(s *Server, r *region, p params) (*result, *apiError) {
	img, err := s.ownImage(r, p.get("ImageId"))
	if err != nil {
		return nil, err
	}
	delete(r.images, img.ID)
	if p.bool("DeleteAssociatedSnapshots") {
		for _, id := range img.snapshotIDs() {
			delete(r.snapshots, id)
		}
	}
	return ret(), nil
}

// permissionChanges reads the users and groups to add and remove from
// either the structured form (LaunchPermission.Add.N.UserId) or the flat
// one (OperationType=add, UserId.N, UserGroup.N).
func permissionChanges(p params, structured string) (addUsers, addGroups, rmUsers, rmGroups []string) {
	for _, m := range p.members(structured + ".Add") {
		if u := m.get("UserId"); u != "" {
			addUsers = append(addUsers, u)
		}
		if g := m.get("Group"); g != "" {
			addGroups = append(addGroups, g)
		}
	}
	for _, m := range p.members(structured + ".Remove") {
		if u := m.get("UserId"); u != "" {
			rmUsers = append(rmUsers, u)
		}
		if g := m.get("Group"); g != "" {
			rmGroups = append(rmGroups, g)
		}
	}
	switch p.get("OperationType") {
	case "add":
		addUsers = append(addUsers, p.strings("UserId")...)
		addGroups = append(addGroups, p.strings("UserGroup")...)
	case "remove":
		rmUsers = append(rmUsers, p.strings("UserId")...)
		rmGroups = append(rmGroups, p.strings("UserGroup")...)
	}
	return
}

func applyPermissions(users, groups *[]string, addU, addG, rmU, rmG []string) *apiError {
	for _, g := range append(slices.Clone(addG), rmG...) {
		if g != "all" {
			return errorf("InvalidParameterValue", "Invalid value '%s' for group: must be 'all'", g)
		}
	}
	for _, u := range append(slices.Clone(addU), rmU...) {
		if len(u) != 12 || strings.Trim(u, "0123456789") != "" {
			return errorf("InvalidAMIAttributeItemValue", "Invalid attribute item value \"%s\" for userId item type.", u)
		}
	}
	for _, u := range addU {
		if !slices.Contains(*users, u) {
			*users = append(*users, u)
		}
	}
	for _, g := range addG {
		if !slices.Contains(*groups, g) {
			*groups = append(*groups, g)
		}
	}
	*users = slices.DeleteFunc(*users, func(u string) bool { return slices.Contains(rmU, u) })
	*groups = slices.DeleteFunc(*groups, func(g string) bool { return slices.Contains(rmG, g) })
	return nil
}

func modifyImageAttribute(s *Server, r *region, p params) (*result, *apiError) {
	img, err := s.ownImage(r, p.get("ImageId"))
	if err != nil {
		return nil, err
	}
	if d := p.get("Description.Value"); d != "" {
		img.Description = d
	}
	if v := p.get("ImdsSupport.Value"); v != "" {
		if v != "v2.0" {
			return nil, errorf("InvalidParameterValue", "Value (%s) for parameter imdsSupport is invalid.", v)
		}
		img.IMDSSupport = v
	}
	addU, addG, rmU, rmG := permissionChanges(p, "LaunchPermission")
	if err := applyPermissions(&img.LaunchUsers, &img.LaunchGroups, addU, addG, rmU, rmG); err != nil {
		return nil, err
	}
	img.Public = slices.Contains(img.LaunchGroups, "all")
	return ok(), nil
}

// --- snapshots ---

func describeSnapshots(s *Server, r *region, p params) (*result, *apiError) {
	ids := p.strings("SnapshotId")
	for _, id := range ids {
		if r.snapshots[id] == nil {
			return nil, errorf("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
		}
	}
	owners := p.strings("Owner")
	var items []*node
	for _, id := range sortedKeys(r.snapshots) {
		sn := r.snapshots[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		if len(owners) > 0 && !slices.ContainsFunc(owners, func(o string) bool {
			return o == sn.Owner || o == "self" && sn.Owner == s.opts.Account
		}) {
			continue
		}
		hit, err := matches(p.filters(), attrs{"snapshot-id": {sn.ID}, "status": {sn.State}, "description": {sn.Description},
			"owner-id": {sn.Owner}, "volume-id": {sn.VolumeID}, "encrypted": {strconv.FormatBool(sn.Encrypted)},
			"volume-size": {strconv.Itoa(sn.VolumeSize)}, "progress": {sn.Progress}}, sn.Tags)
		if err != nil {
			return nil, err
		}
		if hit {
			items = append(items, item(el("snapshotId", sn.ID), el("volumeId", sn.VolumeID), el("status", sn.State),
				el("startTime", sn.StartTime), el("progress", sn.Progress), el("ownerId", sn.Owner), el("volumeSize", sn.VolumeSize),
				el("description", sn.Description), el("encrypted", sn.Encrypted), optional("kmsKeyId", sn.KMSKeyID), tagSet(sn.Tags)))
		}
	}
	return ok(set("snapshotSet", items)), nil
}

func deleteSnapshot(s *Server, r *region, p params) (*result, *apiError) {
	id := p.get("SnapshotId")
	sn := r.snapshots[id]
	if sn == nil {
		return nil, errorf("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	if sn.Owner != s.opts.Account {
		return nil, errorf("UnauthorizedOperation", "You are not authorized to delete snapshot %s.", id)
	}
	for _, img := range sortedImages(r.images) {
		if slices.Contains(img.snapshotIDs(), id) {
			return nil, errorf("InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", id, img.ID)
		}
	}
	delete(r.snapshots, id)
	return ret(), nil
}

func modifySnapshotAttribute(s *Server, r *region, p params) (*result, *apiError) {
	id := p.get("SnapshotId")
	sn := r.snapshots[id]
	if sn == nil {
		return nil, errorf("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	addU, addG, rmU, rmG := permissionChanges(p, "CreateVolumePermission")
	if err := applyPermissions(&sn.VolumeUsers, &sn.VolumeGroups, addU, addG, rmU, rmG); err != nil {
		return nil, err
	}
	return ok(), nil
}

// --- key pairs ---

func keyPairNode(kp *KeyPair, material string) []*node {
	return []*node{el("keyPairId", kp.ID), el("keyName", kp.Name), el("keyFingerprint", kp.Fingerprint),
		optional("keyMaterial", material), el("keyType", kp.Type), tagSet(kp.Tags)}
}

func createKeyPair(s *Server, r *region, p params) (*result, *apiError) {
	name := p.get("KeyName")
	if name == "" {
		return nil, errorf("MissingParameter", "The request must contain the parameter KeyName")
	}
	if r.keyPairs[name] != nil {
		return nil, errorf("InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name)
	}
	typ := p.get("KeyType")
	if typ == "" {
		typ = "rsa"
	}
	var (
		signer   gossh.Signer
		material []byte
	)
	switch typ {
	case "ed25519":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, errorf("InternalError", "%v", err)
		}
		block, err := gossh.MarshalPrivateKey(priv, "")
		if err != nil {
			return nil, errorf("InternalError", "%v", err)
		}
		material = pem.EncodeToMemory(block)
		signer, _ = gossh.NewSignerFromKey(priv)
	case "rsa":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, errorf("InternalError", "%v", err)
		}
		material = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
		signer, _ = gossh.NewSignerFromKey(priv)
	default:
		return nil, errorf("InvalidParameterValue", "Value (%s) for parameter keyType is invalid.", typ)
	}
	pub := signer.PublicKey()
	kp := &KeyPair{ID: newID("key"), Name: name, Region: r.name, Type: typ, Fingerprint: fingerprint(pub),
		PublicKey: string(gossh.MarshalAuthorizedKey(pub)), Tags: p.tagSpecs("key-pair")}
	r.keyPairs[name] = kp
	return ok(keyPairNode(kp, string(material))...), nil
}

func fingerprint(pub gossh.PublicKey) string {
	sum := md5.Sum(pub.Marshal())
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":")
}

func importKeyPair(s *Server, r *region, p params) (*result, *apiError) {
	name := p.get("KeyName")
	if r.keyPairs[name] != nil {
		return nil, errorf("InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name)
	}
	raw, err := base64.StdEncoding.DecodeString(p.get("PublicKeyMaterial"))
	if err != nil {
		return nil, errorf("InvalidParameterValue", "Value for parameter PublicKeyMaterial is invalid: not base64.")
	}
	pub, _, _, _, perr := gossh.ParseAuthorizedKey(raw)
	if perr != nil {
		return nil, errorf("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
	}
	typ := "rsa"
	if pub.Type() == gossh.KeyAlgoED25519 {
		typ = "ed25519"
	}
	kp := &KeyPair{ID: newID("key"), Name: name, Region: r.name, Type: typ, Fingerprint: fingerprint(pub),
		PublicKey: string(gossh.MarshalAuthorizedKey(pub)), Tags: p.tagSpecs("key-pair")}
	r.keyPairs[name] = kp
	return ok(el("keyFingerprint", kp.Fingerprint), el("keyName", name), el("keyPairId", kp.ID), tagSet(kp.Tags)), nil
}

func describeKeyPairs(_ *Server, r *region, p params) (*result, *apiError) {
	names, ids := p.strings("KeyName"), p.strings("KeyPairId")
	for _, n := range names {
		if r.keyPairs[n] == nil {
			return nil, errorf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", n)
		}
	}
	var items []*node
	for _, n := range sortedKeys(r.keyPairs) {
		kp := r.keyPairs[n]
		if len(names) > 0 && !slices.Contains(names, n) || len(ids) > 0 && !slices.Contains(ids, kp.ID) {
			continue
		}
		hit, err := matches(p.filters(), attrs{"key-name": {kp.Name}, "key-pair-id": {kp.ID}, "fingerprint": {kp.Fingerprint}, "key-type": {kp.Type}}, kp.Tags)
		if err != nil {
			return nil, err
		}
		if hit {
			items = append(items, item(keyPairNode(kp, "")...))
		}
	}
	return ok(set("keySet", items)), nil
}

func deleteKeyPair(_ *Server, r *region, p params) (*result, *apiError) {
	if n := p.get("KeyName"); n != "" {
		delete(r.keyPairs, n)
	}
	if id := p.get("KeyPairId"); id != "" {
		for n, kp := range r.keyPairs {
			if kp.ID == id {
				delete(r.keyPairs, n)
			}
		}
	}
	return ret(), nil
}

// --- security groups ---

func createSecurityGroup(s *Server, r *region, p params) (*result, *apiError) {
	name, desc := p.get("GroupName"), p.get("GroupDescription")
	if name == "" || desc == "" {
		return nil, errorf("MissingParameter", "The request must contain the parameters GroupName and GroupDescription")
	}
	vpcID := p.get("VpcId")
	if vpcID == "" {
		for _, v := range r.vpcs {
			if v.Default {
				vpcID = v.ID
			}
		}
	}
	if r.vpcs[vpcID] == nil {
		return nil, errorf("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	for _, g := range r.groups {
		if g.Name == name && g.VPCID == vpcID {
			return nil, errorf("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
	}
	g := &SecurityGroup{ID: newID("sg"), Name: name, Description: desc, VPCID: vpcID, Region: r.name, Tags: p.tagSpecs("security-group")}
	r.groups[g.ID] = g
	return ok(el("return", true), el("groupId", g.ID), tagSet(g.Tags)), nil
}

func (r *region) group(id string) (*SecurityGroup, *apiError) {
	if g := r.groups[id]; g != nil {
		return g, nil
	}
	return nil, errorf("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
}

func authorizeIngress(_ *Server, r *region, p params) (*result, *apiError) {
	g, err := r.group(p.get("GroupId"))
	if err != nil {
		return nil, err
	}
	perms := p.members("IpPermissions")
	if cidr := p.get("CidrIp"); cidr != "" {
		perms = append(perms, params{"IpProtocol": {p.get("IpProtocol")}, "FromPort": {p.get("FromPort")},
			"ToPort": {p.get("ToPort")}, "IpRanges.1.CidrIp": {cidr}})
	}
	var add []IPPermission
	for _, m := range perms {
		perm := IPPermission{Protocol: m.get("IpProtocol"), FromPort: m.int("FromPort"), ToPort: m.int("ToPort")}
		// EC2 takes IPv4 blocks in IpRanges only and IPv6 blocks in
		// Ipv6Ranges only.
		for _, rg := range m.members("IpRanges") {
			c := rg.get("CidrIp")
			if !isCIDR(c, false) {
				return nil, errorf("InvalidParameterValue", "CIDR block %s is malformed", c)
			}
			perm.CIDRs = append(perm.CIDRs, c)
		}
		for _, rg := range m.members("Ipv6Ranges") {
			c := rg.get("CidrIpv6")
			if !isCIDR(c, true) {
				return nil, errorf("InvalidParameterValue", "CIDR block %s is malformed", c)
			}
			perm.IPv6CIDRs = append(perm.IPv6CIDRs, c)
		}
		for _, gr := range m.members("Groups") {
			perm.SourceGroupIDs = append(perm.SourceGroupIDs, gr.get("GroupId"))
		}
		for _, have := range append(slices.Clone(g.Ingress), add...) {
			if have.Protocol == perm.Protocol && have.FromPort == perm.FromPort && have.ToPort == perm.ToPort &&
				slices.Equal(have.CIDRs, perm.CIDRs) && slices.Equal(have.IPv6CIDRs, perm.IPv6CIDRs) {
				return nil, errorf("InvalidPermission.Duplicate", "the specified rule \"peer: %v, %s, from port: %d, to port: %d, ALLOW\" already exists",
					append(slices.Clone(perm.CIDRs), perm.IPv6CIDRs...), strings.ToUpper(perm.Protocol), perm.FromPort, perm.ToPort)
			}
		}
		add = append(add, perm)
	}
	// A refused request changes nothing.
	g.Ingress = append(g.Ingress, add...)
	return ret(), nil
}

// isCIDR reports whether s is a CIDR block of the family v6 selects.
func isCIDR(s string, v6 bool) bool {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return false
	}
	return p.Addr().Is6() == v6 && !p.Addr().Is4In6()
}

func describeSecurityGroups(_ *Server, r *region, p params) (*result, *apiError) {
	ids, names := p.strings("GroupId"), p.strings("GroupName")
	for _, id := range ids {
		if _, err := r.group(id); err != nil {
			return nil, err
		}
	}
	var items []*node
	for _, id := range sortedKeys(r.groups) {
		g := r.groups[id]
		if len(ids) > 0 && !slices.Contains(ids, id) || len(names) > 0 && !slices.Contains(names, g.Name) {
			continue
		}
		hit, err := matches(p.filters(), attrs{"group-id": {g.ID}, "group-name": {g.Name}, "vpc-id": {g.VPCID}, "description": {g.Description}}, g.Tags)
		if err != nil {
			return nil, err
		}
		if !hit {
			continue
		}
		var perms []*node
		for _, perm := range g.Ingress {
			var ranges []*node
			for _, c := range perm.CIDRs {
				ranges = append(ranges, item(el("cidrIp", c)))
			}
			var ranges6 []*node
			for _, c := range perm.IPv6CIDRs {
				ranges6 = append(ranges6, item(el("cidrIpv6", c)))
			}
			perms = append(perms, item(el("ipProtocol", perm.Protocol), el("fromPort", perm.FromPort), el("toPort", perm.ToPort),
				set("ipRanges", ranges), set("ipv6Ranges", ranges6)))
		}
		items = append(items, item(el("ownerId", DefaultAccount), el("groupId", g.ID), el("groupName", g.Name),
			el("groupDescription", g.Description), el("vpcId", g.VPCID), set("ipPermissions", perms), tagSet(g.Tags)))
	}
	return ok(set("securityGroupInfo", items)), nil
}

func deleteSecurityGroup(s *Server, r *region, p params) (*result, *apiError) {
	g, err := r.group(p.get("GroupId"))
	if err != nil {
		return nil, err
	}
	if g.Name == "default" {
		return nil, errorf("CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.ID)
	}
	for _, id := range sortedKeys(r.instances) {
		in := r.instances[id]
		if in.State != "terminated" && slices.Contains(in.GroupIDs, g.ID) {
			return nil, errorf(s.opts.GroupInUseCode, "resource %s has a dependent object", g.ID)
		}
	}
	delete(r.groups, g.ID)
	return ok(el("return", true), el("groupId", g.ID)), nil
}

// --- instances ---

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func stateNode(name, st string) *node {
	return obj(name, el("code", stateCodes[st]), el("name", st))
}

func instanceNode(in *Instance) *node {
	var groups []*node
	for _, g := range in.GroupIDs {
		groups = append(groups, item(el("groupId", g)))
	}
	var bds []*node
	for _, bd := range in.BlockDevices {
		bds = append(bds, item(el("deviceName", bd.DeviceName), obj("ebs", el("volumeId", "vol-"+in.ID[2:]), el("status", "attached"),
			el("deleteOnTermination", bd.DeleteOnTermination))))
	}
	dns := func(ip string) string {
		if strings.HasPrefix(ip, "127.") {
			return "localhost"
		}
		if ip == "" {
			return ""
		}
		return "ip-" + strings.ReplaceAll(ip, ".", "-") + ".ec2.internal"
	}
	var iam *node
	if in.IAMInstanceProfile != "" {
		iam = obj("iamInstanceProfile", el("arn", in.IAMInstanceProfile), el("id", "AIPA"+strings.ToUpper(in.ID[2:])))
	}
	return item(el("instanceId", in.ID), el("imageId", in.ImageID), stateNode("instanceState", in.State),
		el("privateDnsName", dns(in.PrivateIP)), el("dnsName", dns(in.PublicIP)), optional("keyName", in.KeyName),
		el("amiLaunchIndex", 0), el("instanceType", in.InstanceType), el("launchTime", in.LaunchTime),
		obj("placement", el("availabilityZone", in.AZ), el("tenancy", "default")), el("subnetId", in.SubnetID), el("vpcId", in.VPCID),
		el("privateIpAddress", in.PrivateIP), optional("ipAddress", in.PublicIP), set("groupSet", groups),
		el("architecture", "x86_64"), el("rootDeviceType", "ebs"), el("rootDeviceName", "/dev/xvda"), set("blockDeviceMapping", bds),
		el("virtualizationType", "hvm"), iam, tagSet(in.Tags))
}

func reservationNode(s *Server, in *Instance) *node {
	return item(el("reservationId", "r-"+in.ID[2:]), el("ownerId", s.opts.Account), set("groupSet", nil), set("instancesSet", []*node{instanceNode(in)}))
}

func runInstances(s *Server, r *region, p params) (*result, *apiError) {
	in, pubKey, err := launchInstance(s, r, p)
	if err != nil {
		return nil, err
	}
	res := ok(el("reservationId", "r-"+in.ID[2:]), el("ownerId", s.opts.Account), set("groupSet", nil), set("instancesSet", []*node{instanceNode(in)}))
	res.hook = s.onLaunch(in, pubKey)
	return res, nil
}

// onLaunch returns the hook that tells the test of a launch, or nil.
func (s *Server) onLaunch(in *Instance, pubKey string) func() {
	if s.opts.OnLaunch == nil {
		return nil
	}
	cp := *in
	cp.Tags = maps.Clone(in.Tags)
	return func() { s.opts.OnLaunch(cp, pubKey) }
}

// launchInstance launches the instance that RunInstances parameters p
// describe and returns it with the public key of its key pair.
func launchInstance(s *Server, r *region, p params) (*Instance, string, *apiError) {
	if p.get("InstanceType") == "" {
		return nil, "", errorf("MissingParameter", "The request must contain the parameter InstanceType")
	}
	if p.int("MinCount") != 1 || p.int("MaxCount") != 1 {
		return nil, "", errorf("InvalidParameterValue", "this server launches one instance at a time (MinCount=MaxCount=1)")
	}
	imgID := p.get("ImageId")
	img := r.images[imgID]
	if img == nil {
		return nil, "", errorf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", imgID)
	}
	if img.State != "available" {
		return nil, "", errorf("InvalidAMIID.Unavailable", "The image id '[%s]' is not available (%s)", imgID, img.State)
	}
	var pubKey string
	if kn := p.get("KeyName"); kn != "" {
		kp := r.keyPairs[kn]
		if kp == nil {
			return nil, "", errorf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", kn)
		}
		pubKey = kp.PublicKey
	}
	subnetID, groupIDs := p.get("SubnetId"), p.strings("SecurityGroupId")
	associate := ""
	if nis := p.members("NetworkInterface"); len(nis) > 0 {
		ni := nis[0]
		subnetID = ni.get("SubnetId")
		groupIDs = append(groupIDs, ni.strings("SecurityGroupId")...)
		associate = ni.get("AssociatePublicIpAddress")
	}
	az := p.get("Placement.AvailabilityZone")
	var subnet *Subnet
	if subnetID != "" {
		if subnet = r.subnets[subnetID]; subnet == nil {
			return nil, "", errorf("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", subnetID)
		}
	} else {
		for _, id := range sortedKeys(r.subnets) {
			sn := r.subnets[id]
			if sn.Default && (az == "" || sn.AZ == az) {
				subnet = sn
				break
			}
		}
		if subnet == nil {
			return nil, "", errorf("VPCIdNotSpecified", "No default VPC for this user")
		}
	}
	for _, g := range groupIDs {
		sg, err := r.group(g)
		if err != nil {
			return nil, "", err
		}
		if sg.VPCID != subnet.VPCID {
			return nil, "", errorf("InvalidParameter", "Security group %s and subnet %s belong to different networks.", g, subnet.ID)
		}
	}
	if len(groupIDs) == 0 {
		for _, id := range sortedKeys(r.groups) {
			if g := r.groups[id]; g.Name == "default" && g.VPCID == subnet.VPCID {
				groupIDs = []string{g.ID}
			}
		}
	}
	now := time.Now()
	in := &Instance{ID: newID("i"), Region: r.name, ImageID: imgID, InstanceType: p.get("InstanceType"), KeyName: p.get("KeyName"),
		SubnetID: subnet.ID, VPCID: subnet.VPCID, AZ: subnet.AZ, GroupIDs: groupIDs, PrivateIP: s.opts.PrivateIP,
		UserData: p.get("UserData"), ClientToken: p.get("ClientToken"), ShutdownBehavior: p.get("InstanceInitiatedShutdownBehavior"), LaunchTime: now.UTC(),
		BlockDevices: overlay(img.BlockDevices, parseBlockDevices(p)), Tags: p.tagSpecs("instance"), VolumeTags: p.tagSpecs("volume")}
	if associate == "true" || associate == "" && subnet.MapPublicIP {
		in.PublicIP = s.opts.PublicIP
	}
	if arn := p.get("IamInstanceProfile.Arn"); arn != "" {
		in.IAMInstanceProfile = arn
	} else if n := p.get("IamInstanceProfile.Name"); n != "" {
		in.IAMInstanceProfile = "arn:aws:iam::" + s.opts.Account + ":instance-profile/" + n
		// A profile this server's IAM made is unknown to EC2 for its
		// first ProfileLag launches.
		if ip := s.iam.profiles[n]; ip != nil && ip.launches < s.opts.ProfileLag {
			ip.launches++
			return nil, "", errorf("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", n)
		}
	}
	if mo := p.sub("MetadataOptions"); len(mo) > 0 {
		in.MetadataOptions = map[string]string{}
		for k, v := range mo {
			in.MetadataOptions[k] = v[0]
		}
		if v := mo.get("HttpTokens"); v != "" && v != "optional" && v != "required" {
			return nil, "", errorf("InvalidParameterValue", "Value (%s) for parameter HttpTokens is invalid.", v)
		}
		if v := mo.get("HttpPutResponseHopLimit"); v != "" && (mo.int("HttpPutResponseHopLimit") < 1 || mo.int("HttpPutResponseHopLimit") > 64) {
			return nil, "", errorf("InvalidParameterValue", "Value (%s) for parameter HttpPutResponseHopLimit is invalid.", v)
		}
	}
	if c := p.get("CreditSpecification.CpuCredits"); c != "" {
		if !burstable(in.InstanceType) {
			return nil, "", errorf("InvalidParameterCombination", "The parameter CreditSpecification is not supported for %s instances.", in.InstanceType)
		}
		in.CPUCredits = c
	}
	in.setState("pending")
	in.until = deadline(now, s.delays.InstancePending)
	r.instances[in.ID] = in
	return in, pubKey, nil
}

func (r *region) instancesByID(ids []string) ([]*Instance, *apiError) {
	var out []*Instance
	for _, id := range ids {
		in := r.instances[id]
		if in == nil {
			if !strings.HasPrefix(id, "i-") {
				return nil, errorf("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
			}
			return nil, errorf("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
		out = append(out, in)
	}
	return out, nil
}

func describeInstances(s *Server, r *region, p params) (*result, *apiError) {
	ids := p.strings("InstanceId")
	if _, err := r.instancesByID(ids); err != nil {
		return nil, err
	}
	var items []*node
	for _, id := range sortedKeys(r.instances) {
		in := r.instances[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		hit, err := matches(p.filters(), attrs{"instance-id": {in.ID}, "instance-state-name": {in.State},
			"instance-state-code": {strconv.Itoa(stateCodes[in.State])}, "image-id": {in.ImageID}, "key-name": {in.KeyName},
			"vpc-id": {in.VPCID}, "subnet-id": {in.SubnetID}, "instance.group-id": in.GroupIDs, "instance-type": {in.InstanceType},
			"availability-zone": {in.AZ}, "ip-address": {in.PublicIP}, "private-ip-address": {in.PrivateIP},
			"client-token": {in.ClientToken}}, in.Tags)
		if err != nil {
			return nil, err
		}
		if hit {
			items = append(items, reservationNode(s, in))
		}
	}
	return ok(set("reservationSet", items)), nil
}

func stateChanges(ins []*Instance, change func(in *Instance) *apiError) (*result, *apiError) {
	var items []*node
	for _, in := range ins {
		prev := in.State
		if err := change(in); err != nil {
			return nil, err
		}
		items = append(items, item(el("instanceId", in.ID), stateNode("currentState", in.State), stateNode("previousState", prev)))
	}
	return ok(set("instancesSet", items)), nil
}

func stopInstances(s *Server, r *region, p params) (*result, *apiError) {
	ins, err := r.instancesByID(p.strings("InstanceId"))
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		if in.State != "running" && in.State != "stopping" && in.State != "stopped" {
			return nil, errorf("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be stopped.", in.ID)
		}
	}
	now := time.Now()
	return stateChanges(ins, func(in *Instance) *apiError {
		if in.State == "running" {
			in.setState("stopping")
			in.until = deadline(now, s.delays.InstanceStopping)
		}
		return nil
	})
}

func terminateInstances(s *Server, r *region, p params) (*result, *apiError) {
	ins, err := r.instancesByID(p.strings("InstanceId"))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return stateChanges(ins, func(in *Instance) *apiError {
		if in.State != "terminated" && in.State != "shutting-down" {
			in.setState("shutting-down")
			in.until = deadline(now, s.delays.InstanceShuttingDown)
		}
		return nil
	})
}

// --- tags ---

func createTags(_ *Server, r *region, p params) (*result, *apiError) {
	tags := map[string]string{}
	for _, t := range p.members("Tag") {
		tags[t.get("Key")] = t.get("Value")
	}
	var targets []map[string]string
	for _, id := range p.strings("ResourceId") {
		var m map[string]string
		switch prefix, _, _ := strings.Cut(id, "-"); prefix {
		case "ami":
			if img := r.images[id]; img != nil {
				m = img.Tags
			}
		case "snap":
			if sn := r.snapshots[id]; sn != nil {
				m = sn.Tags
			}
		case "i":
			if in := r.instances[id]; in != nil {
				m = in.Tags
			}
		case "sg":
			if g := r.groups[id]; g != nil {
				m = g.Tags
			}
		case "key":
			for _, kp := range r.keyPairs {
				if kp.ID == id {
					m = kp.Tags
				}
			}
		case "vpc":
			if v := r.vpcs[id]; v != nil {
				m = v.Tags
			}
		case "subnet":
			if sn := r.subnets[id]; sn != nil {
				m = sn.Tags
			}
		}
		if m == nil {
			return nil, errorf("InvalidID", "The ID '%s' is not valid", id)
		}
		targets = append(targets, m)
	}
	for _, m := range targets {
		maps.Copy(m, tags)
	}
	return ret(), nil
}

// burstable reports whether an instance type earns CPU credits (T2, T3,
// T3a, T4g).
func burstable(instanceType string) bool {
	family, _, _ := strings.Cut(instanceType, ".")
	return slices.Contains([]string{"t2", "t3", "t3a", "t4g"}, family)
}

func enableImageDeprecation(s *Server, r *region, p params) (*result, *apiError) {
	img, err := s.ownImage(r, p.get("ImageId"))
	if err != nil {
		return nil, err
	}
	at, perr := time.Parse(time.RFC3339, p.get("DeprecateAt"))
	if perr != nil {
		return nil, errorf("InvalidParameterValue", "Value (%s) for parameter DeprecateAt is invalid.", p.get("DeprecateAt"))
	}
	img.DeprecationTime = at.UTC()
	return ret(), nil
}
