// Case manager: the county's service catalogue (#/catalogue): services, units and price caps.
export { renderCatalogue as render } from "./cm-providers.js";
