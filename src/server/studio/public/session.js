/**
 * Who is signed in: the token's name and role (from `GET /api/v1/whoami`). Pages ask `can(role)`
 * before offering an action, so a viewer is never shown a button the API would refuse.
 */
const ROLES = ["viewer", "operator", "admin"];

/** The signed-in actor `{ name, role }`, or null. */
export const session = { actor: null };

/** True when the signed-in role is `role` or above. */
export function can(role) {
  const a = session.actor;
  return Boolean(a) && ROLES.indexOf(a.role) >= ROLES.indexOf(role);
}
