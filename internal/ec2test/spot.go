package ec2test

import (
	"net/url"
	"slices"
	"time"
)

// --- launch templates and fleets (spot instances) ---

func (r *region) templateByName(name string) *LaunchTemplate {
	for _, lt := range r.templates {
		if lt.Name == name {
			return lt
		}
	}
	return nil
}

func launchTemplateNode(lt *LaunchTemplate) *node {
	return obj("launchTemplate", el("launchTemplateId", lt.ID), el("launchTemplateName", lt.Name),
		el("defaultVersionNumber", 1), el("latestVersionNumber", 1), el("createTime", time.Now()), tagSet(lt.Tags))
}

func createLaunchTemplate(_ *Server, r *region, p params) (*result, *apiError) {
	name := p.get("LaunchTemplateName")
	if name == "" {
		return nil, errorf("MissingParameter", "The request must contain the parameter LaunchTemplateName")
	}
	if r.templateByName(name) != nil {
		return nil, errorf("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
	}
	data := p.sub("LaunchTemplateData")
	if data.get("ImageId") == "" {
		return nil, errorf("InvalidParameterValue", "this server needs LaunchTemplateData.ImageId")
	}
	lt := &LaunchTemplate{ID: newID("lt"), Name: name, Region: r.name, Data: map[string]string{}, Tags: p.tagSpecs("launch-template")}
	for k, v := range data {
		lt.Data[k] = v[0]
	}
	r.templates[lt.ID] = lt
	return ok(launchTemplateNode(lt)), nil
}

func describeLaunchTemplates(_ *Server, r *region, p params) (*result, *apiError) {
	ids, names := p.strings("LaunchTemplateId"), p.strings("LaunchTemplateName")
	var items []*node
	for _, id := range sortedKeys(r.templates) {
		lt := r.templates[id]
		if len(ids) > 0 && !slices.Contains(ids, id) || len(names) > 0 && !slices.Contains(names, lt.Name) {
			continue
		}
		hit, err := matches(p.filters(), attrs{"launch-template-name": {lt.Name}}, lt.Tags)
		if err != nil {
			return nil, err
		}
		if hit {
			n := launchTemplateNode(lt)
			n.name = "item"
			items = append(items, n)
		}
	}
	if len(items) == 0 && (len(ids) > 0 || len(names) > 0) {
		return nil, errorf("InvalidLaunchTemplateName.NotFoundException", "At least one of the launch templates specified in the request does not exist.")
	}
	return ok(set("launchTemplates", items)), nil
}

func deleteLaunchTemplate(_ *Server, r *region, p params) (*result, *apiError) {
	var lt *LaunchTemplate
	if id := p.get("LaunchTemplateId"); id != "" {
		if lt = r.templates[id]; lt == nil {
			return nil, errorf("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
		}
	} else if lt = r.templateByName(p.get("LaunchTemplateName")); lt == nil {
		return nil, errorf("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", p.get("LaunchTemplateName"))
	}
	delete(r.templates, lt.ID)
	return ok(launchTemplateNode(lt)), nil
}

// createFleet launches one spot instance of an instant fleet from its
// launch template, the first override's instance type, as RunInstances
// would with the template's data.
func createFleet(s *Server, r *region, p params) (*result, *apiError) {
	if t := p.get("Type"); t != "instant" {
		return nil, errorf("InvalidParameterValue", "this server makes fleets of type instant only, not %q", t)
	}
	if p.int("TargetCapacitySpecification.TotalTargetCapacity") != 1 || p.get("TargetCapacitySpecification.DefaultTargetCapacityType") != "spot" {
		return nil, errorf("InvalidParameterValue", "this server makes fleets of one spot instance")
	}
	configs := p.members("LaunchTemplateConfigs")
	if len(configs) != 1 {
		return nil, errorf("InvalidParameterValue", "this server takes one launch template config")
	}
	spec := configs[0].sub("LaunchTemplateSpecification")
	lt := r.templates[spec.get("LaunchTemplateId")]
	if lt == nil {
		lt = r.templateByName(spec.get("LaunchTemplateName"))
	}
	if lt == nil {
		return nil, errorf("InvalidLaunchTemplateName.NotFoundException", "The specified launch template does not exist.")
	}
	if lt.Data["InstanceMarketOptions.MarketType"] != "" {
		return nil, errorf("InvalidParameterCombination", "The launch template %s requests spot market options, which EC2 Fleet does not support.", lt.ID)
	}
	overrides := configs[0].members("Overrides")
	if len(overrides) == 0 {
		return nil, errorf("InvalidParameterValue", "this server needs overrides with the instance types")
	}
	f := &Fleet{ID: "fleet-" + newUUID(), Region: r.name, Type: "instant", State: "active",
		AllocationStrategy: p.get("SpotOptions.AllocationStrategy"), Tags: p.tagSpecs("fleet")}
	for _, o := range overrides {
		f.InstanceTypes = append(f.InstanceTypes, o.get("InstanceType"))
	}
	var o params
	for _, ov := range overrides {
		if !slices.Contains(s.opts.NoSpotCapacity, ov.get("InstanceType")) {
			o = ov
			break
		}
	}
	if o == nil {
		r.fleets[f.ID] = f
		return ok(el("fleetId", f.ID), set("errorSet", []*node{item(el("errorCode", "InsufficientInstanceCapacity"),
			el("errorMessage", "There is no Spot capacity available that matches your request."), el("lifecycle", "spot"))}),
			set("fleetInstanceSet", nil)), nil
	}
	run := params(url.Values{})
	for k, v := range lt.Data {
		run[k] = []string{v}
	}
	run["InstanceType"] = []string{o.get("InstanceType")}
	run["MinCount"], run["MaxCount"] = []string{"1"}, []string{"1"}
	if sn := o.get("SubnetId"); sn != "" {
		if nis := run.members("NetworkInterface"); len(nis) > 0 {
			run["NetworkInterface.1.SubnetId"] = []string{sn}
		} else {
			run["SubnetId"] = []string{sn}
		}
	}
	if az := o.get("AvailabilityZone"); az != "" {
		run["Placement.AvailabilityZone"] = []string{az}
	}
	in, pubKey, err := launchInstance(s, r, run)
	if err != nil {
		// An instant fleet reports launch errors in its answer.
		r.fleets[f.ID] = f
		return ok(el("fleetId", f.ID), set("errorSet", []*node{item(el("errorCode", err.code), el("errorMessage", err.message),
			el("lifecycle", "spot"))}), set("fleetInstanceSet", nil)), nil
	}
	in.Spot, in.FleetID = true, f.ID
	in.SpotMaxPrice = o.get("MaxPrice")
	in.SpotTags = run.tagSpecs("spot-instances-request")
	in.Tags["aws:ec2:fleet-id"] = f.ID
	f.InstanceIDs = []string{in.ID}
	r.fleets[f.ID] = f
	out := ok(el("fleetId", f.ID), set("errorSet", nil), set("fleetInstanceSet", []*node{item(
		set("instanceIds", []*node{el("item", in.ID)}), el("instanceType", in.InstanceType), el("lifecycle", "spot"))}))
	out.hook = s.onLaunch(in, pubKey)
	return out, nil
}

func fleetNode(f *Fleet) *node {
	ids := make([]*node, 0, len(f.InstanceIDs))
	for _, id := range f.InstanceIDs {
		ids = append(ids, item(set("instanceIds", []*node{el("item", id)}), el("lifecycle", "spot")))
	}
	return item(el("fleetId", f.ID), el("fleetState", f.State), el("type", f.Type), set("fleetInstanceSet", ids), tagSet(f.Tags))
}

func describeFleets(_ *Server, r *region, p params) (*result, *apiError) {
	ids := p.strings("FleetId")
	var items []*node
	for _, id := range sortedKeys(r.fleets) {
		f := r.fleets[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		hit, err := matches(p.filters(), attrs{"fleet-state": {f.State}, "type": {f.Type}}, f.Tags)
		if err != nil {
			return nil, err
		}
		if hit {
			items = append(items, fleetNode(f))
		}
	}
	return ok(set("fleetSet", items)), nil
}

// deleteFleets deletes fleets; an instant fleet needs TerminateInstances,
// which terminates its instances.
func deleteFleets(s *Server, r *region, p params) (*result, *apiError) {
	terminate := p.bool("TerminateInstances")
	var done, failed []*node
	now := time.Now()
	for _, id := range p.strings("FleetId") {
		f := r.fleets[id]
		switch {
		case f == nil || f.State != "active":
			failed = append(failed, item(obj("error", el("code", "fleetIdDoesNotExist"), el("message", "The fleet "+id+" does not exist.")), el("fleetId", id)))
			continue
		case f.Type == "instant" && !terminate:
			return nil, errorf("InvalidParameterCombination", "Instant fleets can only be deleted with TerminateInstances set to true.")
		}
		f.State = "deleted-terminating"
		for _, iid := range f.InstanceIDs {
			if in := r.instances[iid]; in != nil && in.Live() {
				in.setState("shutting-down")
				in.until = deadline(now, s.delays.InstanceShuttingDown)
			}
		}
		done = append(done, item(el("currentFleetState", "deleted_terminating"), el("previousFleetState", "active"), el("fleetId", id)))
	}
	return ok(set("successfulFleetDeletionSet", done), set("unsuccessfulFleetDeletionSet", failed)), nil
}
