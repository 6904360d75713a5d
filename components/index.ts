// Components of the postgres-ha program (one ComponentResource per part of the service).
export * from "./alerting";
export * from "./backupBucket";
export * from "./cluster";
export * from "./common";
export * from "./dns";
export * from "./nodeBundles";
export * from "./rollout";
export * from "./etcdMembers";
export * from "./haproxyNodes";
export * from "./instance";
export * from "./monitoringNode";
export * from "./network";
export * from "./nodeRoles";
export * from "./postgresNodes";
export * from "./secondRegionRepository";
export * from "./secrets";
export * from "./standbyZones";
