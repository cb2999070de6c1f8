package org.calicoanomaly.esanalysis;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.miscellaneous.RemoveDuplicatesTokenFilter;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.TokenFilterFactory;

/** The unique token filter (only_on_same_position=true form). */
@NamedComponent("unique")
public class UniqueFilterFactory implements TokenFilterFactory {
    @Override
    public TokenStream create(TokenStream in) {
        return new RemoveDuplicatesTokenFilter(in);
    }
}
