// The Chinese edition's search (book/_ext/book_languages.py). Sphinx indexes Chinese pages by words
// (jieba), but splits a query only at spaces and punctuation, so "超像素的解释" would be one unknown
// term. This splits each run of Chinese characters into the words the index knows, longest first
// (forward maximum matching); a single character the index does not know is left out, as the index
// leaves out one-character words. Loaded before Sphinx's searchtools.js, which uses it if defined.
var splitQuery = (query) => {
  const index = (typeof Search !== "undefined" && Search._index) || {};
  const known = (word) => (index.terms && word in index.terms) || (index.titleterms && word in index.titleterms);
  const words = [];
  for (const part of query.split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu)) {
    for (const run of part.match(/\p{Script=Han}+|[^\p{Script=Han}]+/gu) || []) {
      if (!/\p{Script=Han}/u.test(run)) {
        words.push(run);
        continue;
      }
      let i = 0;
      while (i < run.length) {
        let j = run.length;
        while (j > i + 1 && !known(run.slice(i, j).toLowerCase())) j--;
        if (j > i + 1 || known(run.slice(i, j))) words.push(run.slice(i, j));
        i = j;
      }
    }
  }
  return words;
};
