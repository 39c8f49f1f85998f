// ResourceQuota and LimitRange admission: what the control plane wires in (see README.md).
export { QuotaAdmission, installQuotaAdmission, type PendingCharge } from './admission.ts';
export { LimitRangeAdmission, installLimitRangeAdmission } from './limitrange.ts';
