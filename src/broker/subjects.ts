/**
 * The subjects a broker uses on its transport. One major version of a contract owns `<name>.v<major>.…`,
 * so two majors run side by side and a caller reaches the major its contract names:
 *
 * - action call:   `<name>.v<major>.<action>`, queue group `<name>.v<major>` (one instance answers)
 * - event (emit):  `<name>.v<major>.event.<event>`, queue group of each listening service (one instance
 *                  of each listening service gets it)
 * - broadcast:     `<name>.v<major>.broadcast.<event>`, no queue group (every listening instance)
 *
 * Action subjects have three tokens and event subjects four, so no action name can collide with them.
 */

export function actionSubject(name: string, major: number, action: string): string {
  return `${name}.v${major}.${action}`;
}

export function queueGroup(name: string, major: number): string {
  return `${name}.v${major}`;
}

export function eventSubject(name: string, major: number, event: string): string {
  return `${name}.v${major}.event.${event}`;
}

export function broadcastSubject(name: string, major: number, event: string): string {
  return `${name}.v${major}.broadcast.${event}`;
}
