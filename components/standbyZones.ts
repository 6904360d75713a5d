// StandbyZones: a standby cluster (postgres-ha:standby, associateZones) and its primary resolve
// each other's names. Each cluster's Route 53 zone is private to its own VPC; across regions:
//   the primary's zone  → associated with this VPC:       the standby leader reaches standby.host
//                                                          (the primary's rw name)
//   this cluster's zone → associated with the primary's VPC: a fenced old primary reaches the
//                                                          promoted cluster's rw name and follows it
// The primary's VPC, region and zone come from its stack through a StackReference (its `network`
// output), so they are whatever that stack deployed: nothing is repeated in config. The two zones
// ignore associations made outside their own resource (Dns: ignoreChanges on vpcs), or each
// `pulumi up` of one stack would remove the other's.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { componentType, throwIfInvalid } from "./common";

/** What every stack exports as `network` (index.ts): what a standby of it associates with. */
export interface StackNetworkOutput {
  region: string;
  vpcId: string;
  privateZoneId: string;
}

export interface StandbyZonesArgs {
  /** The primary's stack, as a StackReference names it (organization/project/stack). */
  primaryStackReference: string;
  /** This stack's region (its VPC's, for the association of the primary's zone). */
  region: string;
  /** This cluster's private zone (Dns.zoneId). */
  zoneId: pulumi.Input<string>;
  /** This cluster's VPC (Network.vpcId). */
  vpcId: pulumi.Input<string>;
}

/** Every problem of StandbyZones' arguments (empty when it can be built). */
export function validateStandbyZonesArgs(args: StandbyZonesArgs): string[] {
  return /^[^/\s]+\/[^/\s]+\/[^/\s]+$/.test(args.primaryStackReference) ? [] : [`primaryStackReference: ${args.primaryStackReference} is not organization/project/stack`];
}

export class StandbyZones extends pulumi.ComponentResource {
  /** The primary's network as its stack exported it. */
  readonly primaryNetwork: pulumi.Output<StackNetworkOutput>;

  constructor(name: string, args: StandbyZonesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("StandbyZones"), name, {}, opts);
    throwIfInvalid(this, "StandbyZones", validateStandbyZonesArgs(args));
    const primary = new pulumi.StackReference(`${name}-primary`, { name: args.primaryStackReference }, { parent: this });
    this.primaryNetwork = primary.requireOutput("network") as pulumi.Output<StackNetworkOutput>;
    new aws.route53.ZoneAssociation(`${name}-primary-zone`, {
      zoneId: this.primaryNetwork.privateZoneId,
      vpcId: args.vpcId,
      vpcRegion: args.region,
    }, { parent: this });
    new aws.route53.ZoneAssociation(`${name}-zone-in-primary-vpc`, {
      zoneId: args.zoneId,
      vpcId: this.primaryNetwork.vpcId,
      vpcRegion: this.primaryNetwork.region,
    }, { parent: this });
    this.registerOutputs({});
  }
}
