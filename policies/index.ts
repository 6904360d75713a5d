// The postgres-ha CrossGuard pack: `pulumi preview --policy-pack policies`. Constructing a
// PolicyPack starts the analyzer server, so this file does nothing else; the rules live in
// ./rules (imported by the tests and by `pgha check`).
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, packArgs } from "./rules";

new PolicyPack(PACK_NAME, packArgs());
