// Leaflet.draw's buttons and tooltips in the console's languages. The
// library reads `L.drawLocal` when a control is created and when a tool
// starts, so `localiseDraw` runs before every `L.Control.Draw` (each view
// builds its map again when the language changes). English is the
// library's own text, kept here as it was loaded. Leaflet.draw puts these
// strings into the page as markup: they are ours and fixed, never text
// from the server.
"use strict";

const DRAW_ENGLISH = JSON.parse(JSON.stringify(L.drawLocal));

const DRAW_TEXT = {
  uk: {
    format: { numeric: { delimiters: { thousands: " ", decimal: "," } } },
    draw: {
      toolbar: {
        actions: { title: "Скасувати малювання", text: "Скасувати" },
        finish: { title: "Завершити малювання", text: "Завершити" },
        undo: { title: "Видалити останню поставлену точку", text: "Видалити останню точку" },
        buttons: {
          polyline: "Намалювати лінію", polygon: "Намалювати багатокутник",
          rectangle: "Намалювати прямокутник", circle: "Намалювати коло",
          marker: "Поставити позначку", circlemarker: "Поставити круглу позначку",
        },
      },
      handlers: {
        circle: { tooltip: { start: "Натисніть і потягніть, щоб намалювати коло." }, radius: "Радіус" },
        circlemarker: { tooltip: { start: "Натисніть на карту, щоб поставити круглу позначку." } },
        marker: { tooltip: { start: "Натисніть на карту, щоб поставити позначку." } },
        polygon: { tooltip: {
          start: "Натисніть, щоб почати багатокутник.",
          cont: "Натисніть, щоб продовжити багатокутник.",
          end: "Натисніть на першу точку, щоб замкнути багатокутник.",
        } },
        polyline: {
          error: "<strong>Помилка:</strong> сторони фігури не можуть перетинатися!",
          tooltip: {
            start: "Натисніть, щоб почати лінію.",
            cont: "Натисніть, щоб продовжити лінію.",
            end: "Натисніть на останню точку, щоб завершити лінію.",
          },
        },
        rectangle: { tooltip: { start: "Натисніть і потягніть, щоб намалювати прямокутник." } },
        simpleshape: { tooltip: { end: "Відпустіть кнопку миші, щоб завершити." } },
      },
    },
    edit: {
      toolbar: {
        actions: {
          save: { title: "Зберегти зміни", text: "Зберегти" },
          cancel: { title: "Скасувати редагування, відкинути всі зміни", text: "Скасувати" },
          clearAll: { title: "Видалити все намальоване", text: "Видалити все" },
        },
        buttons: {
          edit: "Редагувати фігури", editDisabled: "Немає фігур для редагування",
          remove: "Видалити фігури", removeDisabled: "Немає фігур для видалення",
        },
      },
      handlers: {
        edit: { tooltip: {
          text: "Перетягуйте вершини чи позначки, щоб змінити фігуру.",
          subtext: "Натисніть «Скасувати», щоб відкинути зміни.",
        } },
        remove: { tooltip: { text: "Натисніть на фігуру, щоб видалити її." } },
      },
    },
  },
  pl: {
    format: { numeric: { delimiters: { thousands: " ", decimal: "," } } },
    draw: {
      toolbar: {
        actions: { title: "Anuluj rysowanie", text: "Anuluj" },
        finish: { title: "Zakończ rysowanie", text: "Zakończ" },
        undo: { title: "Usuń ostatni narysowany punkt", text: "Usuń ostatni punkt" },
        buttons: {
          polyline: "Narysuj linię", polygon: "Narysuj wielokąt",
          rectangle: "Narysuj prostokąt", circle: "Narysuj okrąg",
          marker: "Postaw znacznik", circlemarker: "Postaw okrągły znacznik",
        },
      },
      handlers: {
        circle: { tooltip: { start: "Kliknij i przeciągnij, aby narysować okrąg." }, radius: "Promień" },
        circlemarker: { tooltip: { start: "Kliknij mapę, aby postawić okrągły znacznik." } },
        marker: { tooltip: { start: "Kliknij mapę, aby postawić znacznik." } },
        polygon: { tooltip: {
          start: "Kliknij, aby zacząć wielokąt.",
          cont: "Kliknij, aby kontynuować wielokąt.",
          end: "Kliknij pierwszy punkt, aby zamknąć wielokąt.",
        } },
        polyline: {
          error: "<strong>Błąd:</strong> krawędzie kształtu nie mogą się przecinać!",
          tooltip: {
            start: "Kliknij, aby zacząć linię.",
            cont: "Kliknij, aby kontynuować linię.",
            end: "Kliknij ostatni punkt, aby zakończyć linię.",
          },
        },
        rectangle: { tooltip: { start: "Kliknij i przeciągnij, aby narysować prostokąt." } },
        simpleshape: { tooltip: { end: "Puść przycisk myszy, aby zakończyć." } },
      },
    },
    edit: {
      toolbar: {
        actions: {
          save: { title: "Zapisz zmiany", text: "Zapisz" },
          cancel: { title: "Anuluj edycję, odrzuć wszystkie zmiany", text: "Anuluj" },
          clearAll: { title: "Usuń wszystko, co narysowano", text: "Usuń wszystko" },
        },
        buttons: {
          edit: "Edytuj kształty", editDisabled: "Brak kształtów do edycji",
          remove: "Usuń kształty", removeDisabled: "Brak kształtów do usunięcia",
        },
      },
      handlers: {
        edit: { tooltip: {
          text: "Przeciągaj wierzchołki lub znaczniki, aby zmienić kształt.",
          subtext: "Kliknij „Anuluj”, aby cofnąć zmiany.",
        } },
        remove: { tooltip: { text: "Kliknij kształt, aby go usunąć." } },
      },
    },
  },
};

/// `base` with every string `over` gives replaced (a fresh copy).
function mergeText(base, over) {
  const out = Array.isArray(base) ? [] : {};
  for (const [k, v] of Object.entries(base)) {
    out[k] = v && typeof v === "object" ? mergeText(v, {}) : v;
  }
  for (const [k, v] of Object.entries(over || {})) {
    out[k] = v && typeof v === "object" ? mergeText(out[k] || {}, v) : v;
  }
  return out;
}

/// Sets Leaflet.draw's texts for `lang` (English when it has none).
function localiseDraw(lang) {
  L.drawLocal = mergeText(DRAW_ENGLISH, DRAW_TEXT[lang]);
}
