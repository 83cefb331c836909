// Invite links are /join#CODE (the code stays in the fragment, out of server logs): open the app's join step.
location.replace(`/#/signin/join/${encodeURIComponent(location.hash.slice(1))}`);
