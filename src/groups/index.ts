export {
  GroupCoordinator,
  defaultGroupDefaults,
  type CommitOffset,
  type GroupCoordinatorOptions,
  type GroupDefaults,
} from './group-coordinator.ts'
export {
  assignorNames,
  assignors,
  isAssignorName,
  type Assignor,
  type AssignorMember,
  type AssignorName,
} from './assignors.ts'
export type { GroupState, MemberInfo } from './group.ts'
