/** Small DOM helpers (no framework). */

/** The element with this id, of this type, or an error naming the id (the markup is static). */
export function byId<T extends HTMLElement>(id: string, type: { new (): T }): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`playground markup: #${id} is missing`);
  return element;
}

/**
 * Creates an element with properties and children.
 *
 * @example el('option', { value: 'mild', textContent: 'mild' })
 */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  properties: Partial<HTMLElementTagNameMap[K]> = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  Object.assign(element, properties);
  element.append(...children);
  return element;
}
