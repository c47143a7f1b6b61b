// Server-rendered bars carry their width as data-width (a percentage): the Content-Security-Policy blocks
// style attributes, and setting the width through the CSSOM is allowed.
for (const bar of document.querySelectorAll("[data-width]")) bar.style.width = `${bar.dataset.width}%`;
