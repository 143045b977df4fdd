// The market's categories (GET /categories), fetched once per page load: they only change
// when the hub's owner adds one, which the next page load picks up.
import { api } from './util.js';

let cached = null;

export function getCategories() {
  if (!cached) {
    cached = api('/categories').then((res) => res.categories.sort((a, b) => a.catid - b.catid));
    cached.catch(() => { cached = null; }); // try again on the next call
  }
  return cached;
}

export async function categoryName(catid) {
  try {
    const found = (await getCategories()).find((c) => String(c.catid) === String(catid));
    return found ? `${catid} (${found.name})` : String(catid);
  } catch {
    return String(catid);
  }
}
