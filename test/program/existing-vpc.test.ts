// Bring your own VPC: network.vpcId + network.subnets. The program creates no network of its
// own, puts the nodes into the given subnets and AZs, and lets client security groups in.
import { TYPES, runProgram, specOf, type ProgramRun } from "../helpers/mocks";

const VPC = "vpc-0123456789abcdef0";
const SUBNETS = [
  { id: "subnet-0aaaaaaaaaaaaaaa1", cidr: "10.50.1.0/24", availabilityZone: "eu-west-1a" },
  { id: "subnet-0aaaaaaaaaaaaaaa2", cidr: "10.50.2.0/24", availabilityZone: "eu-west-1b" },
  { id: "subnet-0aaaaaaaaaaaaaaa3", cidr: "10.50.3.0/24", availabilityZone: "eu-west-1c" },
];
const CLIENT_SG = "sg-0fedcba9876543210";

let run: ProgramRun;
beforeAll(async () => {
  run = await runProgram({
    stack: "prod",
    overrides: { network: { vpcId: VPC, subnets: SUBNETS, allowedClientSecurityGroupIds: [CLIENT_SG] } },
  });
  if (run.error) throw run.error;
});

test("no VPC, subnet, gateway, route or endpoint is created; no AZ lookup", () => {
  for (const type of [TYPES.vpc, TYPES.subnet, TYPES.natGateway, TYPES.vpcEndpoint, "aws:ec2/internetGateway:InternetGateway", "aws:ec2/route:Route", "aws:ec2/routeTable:RouteTable", "aws:ec2/eip:Eip"]) {
    expect(run.ofType(type)).toEqual([]);
  }
  expect(run.invokes.map((i) => i.token)).not.toContain("aws:index/getAvailabilityZones:getAvailabilityZones");
});

test("nodes sit in the given subnets at addresses derived from their CIDRs; data volumes in the subnet's AZ", () => {
  const spec = specOf(run);
  for (const i of run.ofType(TYPES.instance)) {
    const node = spec.nodes.find((n) => n.name === i.inputs.tags["pgha:node"])!;
    expect(i.inputs.subnetId).toBe(SUBNETS[node.subnetIndex].id);
    expect(i.inputs.privateIp.startsWith(SUBNETS[node.subnetIndex].cidr.split(".").slice(0, 3).join("."))).toBe(true);
  }
  const volumes = run.ofType(TYPES.volume);
  expect(volumes.map((v) => v.inputs.availabilityZone).sort()).toEqual(SUBNETS.map((s) => s.availabilityZone));
  for (const g of run.ofType(TYPES.securityGroup)) expect(g.inputs.vpcId).toBe(VPC);
  expect(run.ofType(TYPES.zone)[0].inputs.vpcs).toEqual([{ vpcId: VPC, vpcRegion: "eu-west-1" }]);
  expect(run.ofType(TYPES.loadBalancer)[0].inputs.subnets).toEqual(SUBNETS.map((s) => s.id));
});

test("clients: the subnets' CIDRs (default) and the given security group reach the endpoints through the NLB", () => {
  const nlbGroup = run.ofType(TYPES.securityGroup).find((g) => g.inputs.tags["pgha:role"] === "loadBalancer")!;
  const nlbIngress = run.ofType(TYPES.ingress).filter((r) => r.inputs.securityGroupId === nlbGroup.id);
  const sources = (port: number) => nlbIngress.filter((r) => r.inputs.fromPort === port).map((r) => r.inputs.cidrIpv4 ?? r.inputs.referencedSecurityGroupId).sort();
  const expected = [...SUBNETS.map((s) => s.cidr), CLIENT_SG].sort();
  expect(sources(5000)).toEqual(expected);
  expect(sources(5001)).toEqual(expected);
});
