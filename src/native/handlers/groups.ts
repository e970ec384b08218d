import type { Handler } from './index.ts'

// Consumer groups: membership, assignment and offsets live in the group coordinator (src/groups);
// these handlers only carry its bodies over the wire.

export const handleGroupHeartbeat: Handler<'groupHeartbeat'> = ({ frontEnd }, body) => frontEnd.groups.heartbeat(body)

export const handleOffsetCommit: Handler<'offsetCommit'> = async ({ frontEnd }, body) => {
  await frontEnd.groups.commitOffsets(body)
  return {}
}

export const handleOffsetFetch: Handler<'offsetFetch'> = ({ frontEnd }, body) => frontEnd.groups.fetchOffsets(body)

export const handleListGroups: Handler<'listGroups'> = ({ frontEnd }) => frontEnd.groups.listGroups()

export const handleDescribeGroup: Handler<'describeGroup'> = ({ frontEnd }, body) =>
  frontEnd.groups.describeGroup(body.group)

export const handleResetOffsets: Handler<'resetOffsets'> = ({ frontEnd }, body) => frontEnd.groups.resetOffsets(body)

export const handleDeleteGroup: Handler<'deleteGroup'> = async ({ frontEnd }, body) => {
  await frontEnd.groups.deleteGroup(body.group)
  return {}
}
